// Package mailverify is what the mail host's programs share: the settings
// file both read, and the client that asks devicepass's verify endpoint
// whether a password is valid (SigV4 or, locally, a bearer token).
// cmd/checkpassword makes one client per login; cmd/verifyd keeps one for
// its whole life, with its connections and credentials warm.
package mailverify

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

// The settings, by the name they have in the settings file and in the
// environment. One name for both, so that a line of the file and an
// environment variable that overrides it look the same.
const (
	// KeyURL names the verify endpoint's URL.
	KeyURL         = "DEVICEPASS_VERIFY_URL"
	keyRegion      = "AWS_REGION"
	keyAuth        = "DEVICEPASS_AUTH"
	keyToken       = "DEVICEPASS_TOKEN"
	keyProtocol    = "DEVICEPASS_PROTOCOL"
	keyTimeout     = "DEVICEPASS_TIMEOUT"
	keyCache       = "DEVICEPASS_ACCEPT_CACHE"
	keyProfile     = "AWS_PROFILE"
	keyConfigFile  = "AWS_CONFIG_FILE"
	keyCredentials = "AWS_SHARED_CREDENTIALS_FILE"
)

// settingKeys are the names a settings file may hold. Any other name is a
// typo the operator should hear about, not a setting silently ignored.
var settingKeys = []string{KeyURL, keyRegion, keyAuth, keyToken, keyProtocol, keyTimeout, keyCache, keyProfile, keyConfigFile, keyCredentials}

// maxSettingsFile bounds the settings file: it holds a handful of lines.
const maxSettingsFile = 64 << 10

const defaultTimeout = 5 * time.Second

// How long devicepass-verifyd may answer a repeated login from an earlier
// acceptance. MaxAcceptCache keeps a revoked, disabled or
// regenerated-away password from working for 5 seconds or more after the
// change, counting from when the earlier acceptance was asked for.
const (
	DefaultAcceptCache = 2 * time.Second
	MaxAcceptCache     = 4 * time.Second
)

// Settings is the configuration after the file and the environment are
// merged and checked.
type Settings struct {
	URL      string
	Region   string // empty only with bearer authentication
	Bearer   bool   // a local runner's mail-server token instead of SigV4
	Token    string
	Protocol string // for a SERVICE devicepass has no scope for
	Timeout  time.Duration
	// AcceptCache is how long a resident program may reuse an acceptance
	// for the same mailbox, password, protocol and client address (0: it
	// never does). A program started per login ignores it.
	AcceptCache time.Duration
	// The AWS SDK's own settings, passed on explicitly because the mail
	// server clears the environment the SDK would read them from.
	Profile, ConfigFile, CredentialsFile string
}

// configErrorf is a setup problem: the program cannot ask anything until
// the operator fixes it.
func configErrorf(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

// LoadSettings reads the settings file (none when path is empty), lets
// every environment variable of the same name override it, and checks the
// result. Errors name the setting at fault and where to set it; they never
// quote a value, since the token is a secret.
func LoadSettings(path string, getenv func(string) string) (Settings, error) {
	vals := map[string]string{}
	if path != "" {
		var err error
		if vals, err = readSettingsFile(path); err != nil {
			return Settings{}, err
		}
	}
	for _, k := range settingKeys {
		if v := getenv(k); v != "" {
			vals[k] = v
		}
	}
	where := "the environment"
	if path != "" {
		where = path + " or the environment"
	}

	s := Settings{
		URL:             vals[KeyURL],
		Region:          vals[keyRegion],
		Token:           vals[keyToken],
		Protocol:        vals[keyProtocol],
		Timeout:         defaultTimeout,
		AcceptCache:     DefaultAcceptCache,
		Profile:         vals[keyProfile],
		ConfigFile:      vals[keyConfigFile],
		CredentialsFile: vals[keyCredentials],
	}
	if s.URL == "" {
		return Settings{}, configErrorf("no verify endpoint: set %s in %s", KeyURL, where)
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Settings{}, configErrorf("%s is not an http(s) URL with a host", KeyURL)
	}
	switch vals[keyAuth] {
	case "", "sigv4":
		if s.Region == "" {
			s.Region = RegionOfHost(u.Hostname())
		}
		if s.Region == "" {
			return Settings{}, configErrorf("no AWS region to sign requests for: set %s in %s (it is taken from the URL only when the host is API Gateway's <id>.execute-api.<region>.amazonaws.com)", keyRegion, where)
		}
	case "bearer":
		s.Bearer = true
		if s.Token == "" {
			return Settings{}, configErrorf("%s=bearer needs %s in %s", keyAuth, keyToken, where)
		}
	default:
		return Settings{}, configErrorf("%s must be sigv4 or bearer", keyAuth)
	}
	if s.Protocol != "" && !knownProtocol(s.Protocol) {
		return Settings{}, configErrorf("%s must be one of imap, pop, smtp, caldav, carddav", keyProtocol)
	}
	if t := vals[keyTimeout]; t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 || d > time.Minute {
			return Settings{}, configErrorf("%s must be a duration between 0 and 1m, such as 5s", keyTimeout)
		}
		s.Timeout = d
	}
	if c := vals[keyCache]; c != "" {
		d, err := time.ParseDuration(c)
		if err != nil || d < 0 || d > MaxAcceptCache {
			return Settings{}, configErrorf("%s must be a duration from 0 (off) to %s, such as 2s", keyCache, MaxAcceptCache)
		}
		s.AcceptCache = d
	}
	return s, nil
}

// readSettingsFile parses NAME=value lines; blank lines and lines starting
// with # are skipped, and a value may be wrapped in single or double quotes.
func readSettingsFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, configErrorf("settings file: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSettingsFile+1))
	if err != nil {
		return nil, configErrorf("settings file: %v", err)
	}
	if len(data) > maxSettingsFile {
		return nil, configErrorf("settings file %s is larger than %d bytes", path, maxSettingsFile)
	}
	vals := map[string]string{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, configErrorf("%s line %d: not NAME=value", path, n+1)
		}
		if !isSettingKey(k) {
			if len(k) > 64 {
				k = k[:64]
			}
			return nil, configErrorf("%s line %d: unknown setting %q (known: %s)", path, n+1, k, strings.Join(settingKeys, ", "))
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		vals[k] = v
	}
	return vals, nil
}

func isSettingKey(k string) bool {
	for _, s := range settingKeys {
		if s == k {
			return true
		}
	}
	return false
}

// RegionOfHost returns the Region of an API Gateway default host name,
// <api-id>.execute-api.<region>.amazonaws.com (or .amazonaws.com.cn), and
// "" for any other host, such as a custom domain.
func RegionOfHost(host string) string {
	labels := strings.Split(strings.ToLower(host), ".")
	if len(labels) < 5 || labels[1] != "execute-api" || labels[0] == "" {
		return ""
	}
	rest := strings.Join(labels[3:], ".")
	if rest != "amazonaws.com" && rest != "amazonaws.com.cn" {
		return ""
	}
	region := labels[2]
	for _, c := range region {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return ""
		}
	}
	return region
}

func knownProtocol(p string) bool {
	switch p {
	case "imap", "pop", "smtp", "caldav", "carddav":
		return true
	}
	return false
}
