-- devicepass for Dovecot 2.3: the Lua passdb of 90-devicepass-verifyd.conf.
--
-- Each login goes to devicepass-verifyd (cmd/verifyd), the resident helper
-- that keeps the verify endpoint's connections and the signing
-- credentials warm, over its local unix socket. Every auth worker keeps
-- one connection to the helper for its whole life, so a login costs one
-- local round trip plus the helper's request to devicepass. Nothing is
-- cached here. The helper reuses an accepted login (same mailbox,
-- password, protocol and client address) for 2 s by default
-- (DEVICEPASS_ACCEPT_CACHE, 0 turns it off, 4 s at most), so a revoked or
-- regenerated-away password stops within that; refusals are never reused.
--
-- Needs Debian's dovecot-auth-lua and lua-socket. Install (as root):
--   install -m 0644 contrib/dovecot/devicepass.lua /etc/dovecot/devicepass.lua

-- Where devicepass-verifyd listens (its --socket, and the systemd unit's).
local SOCKET = "/run/devicepass/verifyd.sock"
-- Seconds to wait for the helper's answer: longer than its own timeout for
-- the endpoint (DEVICEPASS_TIMEOUT, 5s by default), so that the helper's
-- answer, temporary failure included, is the one Dovecot hears.
local TIMEOUT = 35

local unix = require("socket.unix")

-- The connection to the helper, kept across logins (one per auth worker:
-- a worker handles one login at a time).
local conn = nil

local function netstring(s)
  s = s or ""
  return #s .. ":" .. s .. ","
end

local function connect()
  local c = (unix.stream or unix)()
  c:settimeout(TIMEOUT)
  local ok, err = c:connect(SOCKET)
  if not ok then
    c:close()
    return nil, err
  end
  return c
end

-- ask sends one request and returns the helper's answer line, or nil and
-- why there is none.
local function ask(request)
  for attempt = 1, 2 do
    if conn == nil then
      local err
      conn, err = connect()
      if conn == nil then
        return nil, "devicepass-verifyd is not reachable at " .. SOCKET .. ": " .. tostring(err)
      end
    end
    local line, err
    local ok, serr = conn:send(request)
    if ok then
      line, err = conn:receive("*l")
    else
      err = serr
    end
    if line ~= nil then
      return line
    end
    conn:close()
    conn = nil
    -- A connection the helper closed (it restarted) fails before any
    -- answer: ask once more on a new one. A timeout is not retried.
    if err ~= "closed" or attempt == 2 then
      return nil, "devicepass-verifyd: " .. tostring(err)
    end
  end
end

function auth_password_verify(req, pass)
  local line, err = ask(netstring(req.user) .. netstring(pass) .. netstring(req.service) .. netstring(req.remote_ip))
  if line == nil then
    return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, err
  end
  if line == "OK" then
    return dovecot.auth.PASSDB_RESULT_OK, {}
  end
  if line == "NO" then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, ""
  end
  if line:sub(1, 3) == "NO " then
    -- Why devicepass refused (the field at fault, never a value).
    req:log_info("devicepass refused: " .. line:sub(4))
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, ""
  end
  if line:sub(1, 5) == "TEMP " then
    return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, "devicepass-verifyd: " .. line:sub(6)
  end
  return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, "devicepass-verifyd answered something unexpected"
end
