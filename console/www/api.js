// The API client. The token lives in this module's memory only (never in
// the browser's local or session storage, a cookie or the URL): a reload signs the
// person out, which is the price of never persisting a credential.

/** @type {string} */
let token = '';

/** @param {string} tok */
export function setToken(tok) { token = tok; }
export function signedIn() { return token !== ''; }
export function forget() { token = ''; }

/** An RFC 9457 problem answered by the API. */
export class Problem extends Error {
  /**
   * @param {number} status
   * @param {any} body
   * @param {boolean} stepUp
   */
  constructor(status, body, stepUp) {
    super((body && (body.detail || body.title || body.message)) || `HTTP ${status}`);
    this.status = status;
    this.field = body && body.field;
    /** The login is too old for this operation: sign in again, then retry. */
    this.stepUp = stepUp;
  }
}

/**
 * Calls the API and returns the decoded JSON answer.
 * @param {string} method
 * @param {string} path
 * @param {any} [body]
 * @returns {Promise<any>} the answer; an API route always answers a JSON document
 */
export async function call(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const challenge = res.headers.get('WWW-Authenticate') || '';
    const stepUp = res.status === 401 && challenge.includes('insufficient_user_authentication');
    throw new Problem(res.status, data, stepUp);
  }
  return data;
}

/** @param {string} s */
export const enc = (s) => encodeURIComponent(s);
