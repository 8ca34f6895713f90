// The popup's landing page after Cognito's login: hands the code and state
// to the console window (same origin only), then closes. The code is
// useless without the PKCE verifier, which never left that window.
const q = new URLSearchParams(location.search);
if (window.opener) {
  window.opener.postMessage({ kind: 'devicepass-callback', code: q.get('code'), state: q.get('state') }, location.origin);
}
history.replaceState(null, '', location.pathname);
window.close();
