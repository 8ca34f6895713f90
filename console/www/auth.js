// Sign-in. Deployed (config.mode "cognito"): Cognito's managed login with
// the authorization code flow and PKCE, in a popup so the page, and what
// the person typed, stays as it was; the popup's callback page hands the
// code back by postMessage to this same origin. Locally (mode "local"):
// the development issuer's form, never deployed.
import { setToken } from './api.js';

/** @typedef {{mode: 'local'|'cognito', authority?: string, clientId?: string, mail?: any}} Config */

/** @param {Uint8Array} bytes */
function b64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random() { return b64url(crypto.getRandomValues(new Uint8Array(32))); }

/**
 * Runs Cognito's code flow with PKCE in a popup; fresh forces a new login
 * (prompt=login, max_age=0), for the step-up of sensitive operations.
 * @param {Config} cfg
 * @param {boolean} fresh
 */
export async function cognito(cfg, fresh) {
  const verifier = random();
  const state = random();
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  const redirect = `${location.origin}/callback.html`;
  const q = new URLSearchParams({
    response_type: 'code', client_id: cfg.clientId || '', redirect_uri: redirect, scope: 'openid email',
    code_challenge: challenge, code_challenge_method: 'S256', state,
  });
  if (fresh) { q.set('prompt', 'login'); q.set('max_age', '0'); }
  const popup = window.open(`${cfg.authority}/oauth2/authorize?${q}`, 'devicepass-signin', 'popup,width=480,height=680');
  if (!popup) throw new Error('popup blocked');
  const code = await new Promise((resolve, reject) => {
    /** @param {MessageEvent} ev */
    const onMessage = (ev) => {
      if (ev.origin !== location.origin || !ev.data || ev.data.kind !== 'devicepass-callback') return;
      window.removeEventListener('message', onMessage);
      if (ev.data.state !== state || !ev.data.code) reject(new Error('sign-in failed')); else resolve(ev.data.code);
    };
    window.addEventListener('message', onMessage);
  });
  const res = await fetch(`${cfg.authority}/oauth2/token`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, credentials: 'omit',
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: cfg.clientId || '', code, redirect_uri: redirect, code_verifier: verifier }),
  });
  if (!res.ok) throw new Error('sign-in failed');
  const tok = await res.json();
  setToken(tok.id_token);
}

/**
 * Signs in with the local development issuer; ageSeconds back-dates the
 * login (auth_time), to try the step-up of sensitive operations.
 * @param {{sub: string, email: string, groups: string[]}} who
 * @param {number} [ageSeconds]
 */
export async function local(who, ageSeconds = 0) {
  const res = await fetch('/local/token', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'omit',
    body: JSON.stringify({ sub: who.sub, email: who.email, groups: who.groups, authAgeSeconds: ageSeconds }),
  });
  if (!res.ok) throw new Error('sign-in failed');
  setToken((await res.json()).token);
}
