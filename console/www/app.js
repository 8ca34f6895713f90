// The console: a single page routed by the URL fragment (#/...), so that
// no path, and never a token, reaches a server log.
import { call, enc, forget, signedIn, Problem } from './api.js';
import * as auth from './auth.js';
import { h, announce, dialog } from './dom.js';
import { load, t, date, day, relative } from './i18n.js';
import { mobileconfig } from './mobileconfig.js';

/** @type {import('./auth.js').Config} */
let config = { mode: 'local' };
/** The local identity, kept to sign in again with a fresh login. */
let who = { sub: '', email: '', groups: /** @type {string[]} */ ([]) };
/** @type {any} */
let me = null;
/** A redemption token read from the fragment, held in memory only. */
let pendingRedeem = '';

const main = () => /** @type {HTMLElement} */ (document.getElementById('main'));

/** Replaces the page's content and moves focus to its heading. @param {string} title @param {...any} content */
function page(title, ...content) {
  document.title = `${title} · devicepass`;
  const m = main();
  m.replaceChildren(h('h1', { tabindex: '-1' }, title), ...content);
  /** @type {HTMLElement} */ (m.querySelector('h1')).focus();
}

/** @param {any} err */
function errorText(err) {
  if (err instanceof Problem) return err.field ? t('error.field', { field: err.field, detail: err.message }) : err.message;
  return t('error.generic');
}

/**
 * Runs a sensitive action; when the API asks for a fresh login, signs the
 * person in again (the form stays open, with what they typed) and resumes
 * the same action once.
 * @template T
 * @param {() => Promise<T>} action
 * @returns {Promise<T>}
 */
async function withStepUp(action) {
  try {
    return await action();
  } catch (err) {
    if (!(err instanceof Problem) || !err.stepUp) throw err;
    await freshLogin();
    announce(t('stepup.resumed'));
    return await action();
  }
}

/**
 * Asks the person to sign in again and waits until they did. The sign-in
 * starts from the dialog's button, so that Cognito's popup opens on a
 * click (browsers block popups opened otherwise).
 */
function freshLogin() {
  return new Promise((resolve, reject) => {
    const d = dialog(t('stepup.title'), [
      h('p', null, t('stepup.why')),
      h('p', null, t('stepup.as', { sub: me ? (me.email || me.subject) : who.sub })),
      h('div', { class: 'actions' },
        h('button', { class: 'secondary', type: 'button', onclick: () => { d.close(); reject(new Error('cancelled')); } }, t('common.cancel')),
        h('button', { type: 'button', id: 'signin-again', onclick: async () => {
          try {
            if (config.mode === 'cognito') await auth.cognito(config, true); else await auth.local(who);
            d.close();
            resolve(undefined);
          } catch (e) { d.close(); reject(e); }
        } }, t('stepup.again'))),
    ]);
  });
}

// ---- navigation ----

function renderNav() {
  const nav = /** @type {HTMLElement} */ (document.getElementById('nav'));
  if (!signedIn() || !me) { nav.replaceChildren(); return; }
  nav.replaceChildren(
    h('a', { href: '#/' }, t('nav.home')), ' ',
    h('span', { class: 'muted' }, me.email || me.subject), ' ',
    h('button', { class: 'secondary', type: 'button', onclick: signOut }, t('nav.signout')));
}

function signOut() {
  forget();
  me = null;
  if (config.mode === 'cognito' && config.authority) {
    // End Cognito's session too, so that the next sign-in asks again.
    const q = new URLSearchParams({ client_id: config.clientId || '', logout_uri: `${location.origin}/` });
    location.assign(`${config.authority}/logout?${q}`);
    return;
  }
  location.hash = '#/';
  route();
}

async function route() {
  const frag = location.hash.replace(/^#/, '') || '/';
  if (frag.startsWith('/redeem/')) {
    // The token came in the fragment (never sent to a server); keep it in
    // memory and take it out of the address bar and history at once.
    pendingRedeem = decodeURIComponent(frag.slice('/redeem/'.length));
    history.replaceState(null, '', `${location.pathname}#/redeem`);
  }
  if (!signedIn()) return signInPage();
  if (!me) {
    try {
      me = await call('GET', '/v1/me');
    } catch {
      // An expired or refused token: sign in again.
      forget();
      return signInPage();
    }
  }
  renderNav();
  const parts = (location.hash.replace(/^#\/?/, '') || '').split('/').map(decodeURIComponent);
  try {
    if (parts[0] === 'redeem') return await redeemPage();
    if (parts[0] === 'd' && parts[1] && parts[2] === 'policy') return await policyPage(parts[1]);
    if (parts[0] === 'd' && parts[1]) return await domainPage(parts[1]);
    if (parts[0] === 'm' && parts[1]) return await mailboxPage(parts[1], parts[2] || 'devices');
    return await homePage();
  } catch (err) {
    page(t('error.title'), h('p', { class: 'error', role: 'alert' }, errorText(err)));
  }
}

// ---- sign-in ----

function signInPage() {
  renderNav();
  if (config.mode === 'cognito') {
    return page(t('signin.title'), h('p', null, t('signin.intro')),
      h('button', { type: 'button', onclick: async () => { await auth.cognito(config, false); route(); } }, t('signin.button')));
  }
  const err = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { onsubmit: async (/** @type {Event} */ ev) => {
    ev.preventDefault();
    const f = /** @type {HTMLFormElement} */ (ev.target);
    const v = (/** @type {string} */ n) => /** @type {HTMLInputElement} */ (f.elements.namedItem(n)).value.trim();
    who = { sub: v('sub'), email: v('email'), groups: v('groups').split(/[\s,]+/).filter(Boolean) };
    try { await auth.local(who, Number(v('age') || 0) * 60); await route(); } catch { err.textContent = t('signin.failed'); }
  } },
  h('label', { for: 'sub' }, t('signin.subject')), h('input', { id: 'sub', name: 'sub', required: true, autocomplete: 'username' }),
  h('label', { for: 'email' }, t('signin.email')), h('input', { id: 'email', name: 'email', type: 'email' }),
  h('label', { for: 'groups' }, t('signin.groups')), h('input', { id: 'groups', name: 'groups', 'aria-describedby': 'groups-help' }),
  h('p', { id: 'groups-help', class: 'muted' }, t('signin.groupsHelp')),
  h('label', { for: 'age' }, t('signin.age')), h('input', { id: 'age', name: 'age', type: 'number', min: 0, max: 1440, value: 0, 'aria-describedby': 'age-help' }),
  h('p', { id: 'age-help', class: 'muted' }, t('signin.ageHelp')),
  h('p', null, h('button', { type: 'submit' }, t('signin.button'))), err);
  page(t('signin.devTitle'), h('p', { class: 'muted' }, t('signin.devIntro')), form);
}

// ---- home and domain ----

async function homePage() {
  const mine = await call('GET', '/v1/me/mailboxes');
  const list = mine.items.length
    ? h('ul', null, mine.items.map((/** @type {any} */ m) => h('li', null, h('a', { href: `#/m/${enc(m.address)}/devices` }, m.address),
      ' ', h('span', { class: 'muted' }, t('home.devices', { n: m.deviceCount })))))
    : h('p', { class: 'empty' }, t('home.noMailboxes'));
  const domains = me.adminDomains.length
    ? [h('h2', null, t('home.domains')), h('ul', null, me.adminDomains.map((/** @type {string} */ d) => h('li', null, h('a', { href: `#/d/${enc(d)}` }, d))))]
    : [];
  page(t('home.title'), h('h2', null, t('home.mailboxes')), list, ...domains);
}

/** @param {string} domain */
async function domainPage(domain) {
  const state = { prefix: '', cursors: [''], at: 0 };
  const table = h('div');
  const status = h('p', { role: 'status', class: 'muted' });
  async function load() {
    const q = new URLSearchParams({ limit: '25' });
    if (state.prefix) q.set('prefix', state.prefix);
    if (state.cursors[state.at]) q.set('cursor', state.cursors[state.at]);
    const p = await call('GET', `/v1/domains/${enc(domain)}/mailboxes?${q}`);
    state.cursors[state.at + 1] = p.next || '';
    status.textContent = t('domain.shown', { n: p.items.length });
    table.replaceChildren(p.items.length === 0 ? h('p', { class: 'empty' }, t('domain.none')) : h('table', null,
      h('caption', { class: 'visually-hidden' }, t('domain.caption', { domain })),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, t('domain.address')), h('th', { scope: 'col' }, t('domain.owner')),
        h('th', { scope: 'col' }, t('domain.devices')), h('th', { scope: 'col' }, t('domain.created')))),
      h('tbody', null, p.items.map((/** @type {any} */ m) => h('tr', null,
        h('td', null, h('a', { href: `#/m/${enc(m.address)}/devices` }, m.address)), h('td', null, m.owner),
        h('td', null, String(m.deviceCount)), h('td', null, day(m.createdAt)))))),
    h('div', { class: 'toolbar' },
      h('button', { class: 'secondary', type: 'button', disabled: state.at === 0, onclick: () => { state.at--; load(); } }, t('common.previous')),
      h('button', { class: 'secondary', type: 'button', disabled: !p.next, onclick: () => { state.at++; load(); } }, t('common.next'))));
  }
  const search = h('form', { role: 'search', class: 'toolbar', onsubmit: (/** @type {Event} */ ev) => {
    ev.preventDefault();
    state.prefix = /** @type {HTMLInputElement} */ (document.getElementById('prefix')).value.trim();
    state.cursors = [''];
    state.at = 0;
    load();
  } }, h('label', { for: 'prefix' }, t('domain.search')), h('input', { id: 'prefix', type: 'search' }), h('button', { type: 'submit' }, t('domain.searchButton')));
  const regErr = h('p', { class: 'error', role: 'alert' });
  const register = h('form', { onsubmit: async (/** @type {Event} */ ev) => {
    ev.preventDefault();
    const local = /** @type {HTMLInputElement} */ (document.getElementById('reg-local')).value.trim();
    const owner = /** @type {HTMLInputElement} */ (document.getElementById('reg-owner')).value.trim();
    try {
      await call('PUT', `/v1/mailboxes/${enc(`${local}@${domain}`)}`, { owner });
      regErr.textContent = '';
      announce(t('domain.registered', { address: `${local}@${domain}` }));
      load();
    } catch (err) { regErr.textContent = errorText(err); }
  } }, h('h2', null, t('domain.register')),
  h('label', { for: 'reg-local' }, t('domain.localPart', { domain })), h('input', { id: 'reg-local', required: true }),
  h('label', { for: 'reg-owner' }, t('domain.ownerSubject')), h('input', { id: 'reg-owner', required: true }),
  h('p', null, h('button', { type: 'submit' }, t('domain.registerButton'))), regErr);
  page(domain, h('p', null, h('a', { href: `#/d/${enc(domain)}/policy`, id: 'policy-link' }, t('domain.policy'))), search, status, table, register);
  await load();
}

// ---- domain policy ----

/**
 * The policy's fields in the order the page shows them, each with its
 * kind and the default the API applies when the field is left out (or
 * empty here), so that an administrator sees what "empty" means.
 * @type {[string, 'bool'|'int'|'scopes'|'duration'|'ips', any][]}
 */
const POLICY_FIELDS = [
  ['selfService', 'bool', true],
  ['maxDevicesPerMailbox', 'int', 50],
  ['allowedScopes', 'scopes', ['imap', 'pop', 'smtp', 'caldav', 'carddav']],
  ['requireExpiry', 'bool', false],
  ['maxLifetime', 'duration', '8760h'],
  ['defaultLifetime', 'duration', null],
  ['requireAllowIps', 'bool', false],
  ['defaultAllowIps', 'ips', []],
  // Double quotes: an API field, not a catalog key (the catalog test reads
  // single-quoted namespace.name strings as keys).
  ["rotation.requiredMaxEveryDays", 'int', null],
  ['inactivity.revokeAfter', 'duration', null],
  ['inactivity.warnBefore', 'duration', '168h'],
  ['expiryReminderBefore', 'duration', null],
  ['newNetworkNotice', 'bool', false],
  ['revokeOnCredentialChange', 'bool', true],
  ['enrollmentMaxValidity', 'duration', '168h'],
];
const SCOPES = ['imap', 'pop', 'smtp', 'caldav', 'carddav'];

/** The member at a dotted path ("rotation.requiredMaxEveryDays"). @param {any} obj @param {string} path */
const member = (obj, path) => path.split('.').reduce((o, k) => (o == null ? o : o[k]), obj);

/** Sets the member at a dotted path, making the objects on the way. @param {any} obj @param {string} path @param {any} v */
function setMember(obj, path, v) {
  const keys = path.split('.');
  const last = /** @type {string} */ (keys.pop());
  let o = obj;
  for (const k of keys) o = (o[k] ??= {});
  o[last] = v;
}

/** An element id for a policy field. @param {string} field */
const fieldId = (field) => `pol-${field.replace('.', '-')}`;

/** A default as the page shows it. @param {string} kind @param {any} v */
function showDefault(kind, v) {
  if (kind === 'bool') return t(v ? 'policy.on' : 'policy.off');
  if (v === null || (Array.isArray(v) && v.length === 0)) return t('policy.noRule');
  if (kind === 'scopes') return v.map((/** @type {string} */ s) => s.toUpperCase()).join(', ');
  return String(v);
}

/**
 * Go durations ("168h", "1h30m", "90s") in seconds; NaN when unreadable.
 * @param {string|null|undefined} s
 */
function seconds(s) {
  if (!s) return NaN;
  const unit = /** @type {Record<string, number>} */ ({ h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, 'µs': 1e-6, ns: 1e-9 });
  let total = 0;
  const rest = s.replace(/(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g, (_, n, u) => { total += Number(n) * unit[u]; return ''; });
  return rest === '' ? total : NaN;
}

/**
 * Shows a problem on the field it names: the message under the field, the
 * field marked invalid and focused. Returns false when no field matches.
 * @param {HTMLElement} root @param {any} err
 */
function showOnField(root, err) {
  if (!(err instanceof Problem) || !err.field) return false;
  const box = /** @type {HTMLElement|null} */ (root.querySelector(`[data-field="${CSS.escape(err.field)}"]`));
  if (!box) return false;
  const msg = /** @type {HTMLElement} */ (box.querySelector('.field-error'));
  msg.textContent = err.message;
  const input = /** @type {HTMLElement|null} */ (box.querySelector('input, select, textarea'));
  box.querySelectorAll('input, select, textarea').forEach((e) => e.setAttribute('aria-invalid', 'true'));
  input?.focus();
  // Also said aloud: a field that already had the focus is not read again.
  announce(err.message);
  return true;
}

/** Clears every field's message. @param {HTMLElement} root */
function clearFields(root) {
  root.querySelectorAll('.field-error').forEach((e) => { e.textContent = ''; });
  root.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
}

/** @param {string} domain */
async function policyPage(domain) {
  const policy = await call('GET', `/v1/domains/${enc(domain)}/policy`);
  const err = h('p', { class: 'error', role: 'alert', id: 'policy-error' });
  const status = h('p', { role: 'status', class: 'muted', id: 'policy-status' });
  const updated = h('p', { class: 'muted' });
  const showUpdated = (/** @type {any} */ p) => {
    updated.textContent = p.updatedAt ? t('policy.updated', { when: date(p.updatedAt), who: p.updatedBy || '' }) : t('policy.defaults');
  };
  showUpdated(policy);
  const form = /** @type {HTMLFormElement} */ (h('form', { id: 'policy-form', novalidate: true },
    POLICY_FIELDS.map(([field, kind, dflt]) => policyField(field, kind, dflt, member(policy, field))),
    err,
    h('p', null, h('button', { type: 'submit', id: 'policy-save' }, t('policy.save')))));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFields(form);
    err.textContent = '';
    status.textContent = '';
    /** @type {any} */
    const body = {};
    let notWhole = '';
    for (const [field, kind] of POLICY_FIELDS) {
      const id = fieldId(field);
      const el = /** @type {HTMLInputElement|null} */ (document.getElementById(id));
      if (kind === 'bool') setMember(body, field, /** @type {HTMLInputElement} */ (el).checked);
      else if (kind === 'scopes') setMember(body, field, [...form.querySelectorAll(`input[name=${id}]:checked`)].map((e) => /** @type {HTMLInputElement} */ (e).value));
      else {
        const v = /** @type {HTMLInputElement} */ (el).value.trim();
        // Empty takes the default (null), as the API documents.
        if (v === '') continue;
        if (kind === 'int') {
          if (!/^\d+$/.test(v)) notWhole ||= field;
          setMember(body, field, Number(v));
        }
        else if (kind === 'ips') setMember(body, field, v.split(/[\s,]+/).filter(Boolean));
        else setMember(body, field, v);
      }
    }
    if (notWhole) {
      showOnField(form, new Problem(400, { detail: t('policy.notWhole'), field: notWhole }, false));
      return;
    }
    try {
      const saved = await withStepUp(() => call('PUT', `/v1/domains/${enc(domain)}/policy`, body));
      showUpdated(saved);
      status.textContent = t('policy.saved');
      announce(t('policy.saved'));
      await compliance.load();
    } catch (e) {
      if (!showOnField(form, e)) err.textContent = errorText(e);
    }
  });
  const compliance = complianceList(domain);
  page(t('policy.title', { domain }),
    h('p', null, h('a', { href: `#/d/${enc(domain)}` }, t('policy.back', { domain }))),
    h('p', null, t('policy.intro')), updated, form, status, compliance.el);
  await compliance.load();
}

/**
 * One field of the policy form: its label, its input, what it does, its
 * default and a place for the API's message about it.
 * @param {string} field @param {string} kind @param {any} dflt @param {any} value
 */
function policyField(field, kind, dflt, value) {
  const id = fieldId(field);
  const help = h('span', { id: `${id}-help` }, t(`policy.help.${field}`), ' ', t('policy.default', { value: showDefault(kind, dflt) }));
  const error = h('p', { class: 'error field-error', id: `${id}-error` });
  const described = `${id}-help ${id}-error`;
  if (kind === 'scopes') {
    return h('fieldset', { 'data-field': field, 'aria-describedby': described }, h('legend', null, t(`policy.label.${field}`)),
      SCOPES.map((s) => h('label', null, h('input', { type: 'checkbox', name: id, value: s, checked: (value || []).includes(s) }), ` ${s.toUpperCase()}`)),
      h('p', { class: 'muted' }, help), error);
  }
  if (kind === 'bool') {
    return h('div', { 'data-field': field, class: 'check' },
      h('input', { type: 'checkbox', id, checked: !!value, 'aria-describedby': described }),
      h('label', { for: id }, t(`policy.label.${field}`)),
      h('p', { class: 'muted' }, help), error);
  }
  let shown = value ?? '';
  if (kind === 'ips') shown = (value || []).join(', ');
  const attrs = kind === 'int'
    ? { type: 'text', inputmode: 'numeric', autocomplete: 'off' }
    : { type: 'text', autocomplete: 'off', spellcheck: 'false' };
  return h('div', { 'data-field': field },
    h('label', { for: id }, t(`policy.label.${field}`)),
    h('input', { id, value: String(shown), 'aria-describedby': described, ...attrs }),
    h('p', { class: 'muted' }, help), error);
}

/**
 * The devices of the domain that break its policy, with the rules each
 * breaks, a page of the domain's devices at a time.
 * @param {string} domain
 */
function complianceList(domain) {
  const el = h('section', { id: 'compliance', 'aria-labelledby': 'compliance-title' });
  const cursors = [''];
  let at = 0;
  async function load() {
    const p = await call('GET', `/v1/domains/${enc(domain)}/compliance?limit=50${cursors[at] ? `&cursor=${enc(cursors[at])}` : ''}`);
    cursors[at + 1] = p.next || '';
    el.replaceChildren(h('h2', { id: 'compliance-title' }, t('compliance.title')), h('p', { class: 'muted' }, t('compliance.intro')),
      p.items.length === 0 ? h('p', { class: 'empty' }, t(p.next ? 'compliance.noneHere' : 'compliance.none')) : h('table', null,
        h('caption', { class: 'visually-hidden' }, t('compliance.caption', { domain })),
        h('thead', null, h('tr', null, ['mailbox', 'device', 'rules'].map((c) => h('th', { scope: 'col' }, t(`compliance.${c}`))))),
        h('tbody', null, p.items.map((/** @type {any} */ n) => h('tr', null,
          h('td', null, h('a', { href: `#/m/${enc(n.device.mailbox)}/devices` }, n.device.mailbox)),
          h('td', null, n.device.name),
          h('td', null, h('ul', null, n.violations.map((/** @type {any} */ v) => h('li', null,
            h('strong', null, ruleLabel(v.rule)), h('div', { class: 'muted' }, v.detail))))))))),
      ...(at > 0 || p.next ? [h('div', { class: 'toolbar' },
        h('button', { class: 'secondary', type: 'button', disabled: at === 0, onclick: () => { at--; load(); } }, t('common.previous')),
        h('button', { class: 'secondary', type: 'button', disabled: !p.next, onclick: () => { at++; load(); } }, t('common.next')))] : []));
  }
  return { el, load: () => { cursors.length = 1; at = 0; return load(); } };
}

/** The label of a rule the API names, or its name when new. @param {string} rule */
function ruleLabel(rule) {
  return POLICY_FIELDS.some(([f]) => f === rule) ? t(`policy.label.${rule}`) : rule;
}

// ---- mailbox ----

/** @param {string} address @param {string} tab */
async function mailboxPage(address, tab) {
  const admin = me.adminDomains.includes(address.slice(address.lastIndexOf('@') + 1));
  const tabs = [['devices', t('tab.devices')], ['audit', t('tab.audit')]];
  if (admin) tabs.push(['links', t('tab.links')]);
  const nav = h('nav', { class: 'tabs', 'aria-label': t('tab.label') }, tabs.map(([id, label]) =>
    h('a', { href: `#/m/${enc(address)}/${id}`, 'aria-current': id === tab ? 'page' : null }, label)));
  const body = h('div');
  page(address, nav, body);
  if (tab === 'audit') return auditTab(address, body);
  if (tab === 'links' && admin) return linksTab(address, body);
  return devicesTab(address, body);
}

/** @param {any} d */
function lastUsed(d) {
  if (!d.lastUsedAt) return t('device.neverUsed');
  return [relative(d.lastUsedAt), d.lastUsedProtocol ? ` · ${d.lastUsedProtocol.toUpperCase()}` : '', d.lastUsedIp ? ` · ${d.lastUsedIp}` : ''].join('');
}

/** @param {any} d */
function rotationText(d) {
  if (!d.rotation) return t('device.noRotation');
  if (d.rotation.everyDays) return t('device.everyDays', { n: d.rotation.everyDays });
  return t('device.schedule', { schedule: d.rotation.schedule || '' });
}

/** @param {string} address @param {HTMLElement} body */
async function devicesTab(address, body) {
  const all = [];
  let cursor = '';
  do {
    const p = await call('GET', `/v1/mailboxes/${enc(address)}/devices?limit=100${cursor ? `&cursor=${enc(cursor)}` : ''}`);
    all.push(...p.items);
    cursor = p.next || '';
  } while (cursor);
  const live = all.filter((d) => d.status === 'active' || d.status === 'disabled');
  const reload = () => devicesTab(address, body);
  const toolbar = h('div', { class: 'toolbar' },
    h('button', { type: 'button', id: 'add-device', onclick: () => addDevice(address, reload) }, t('device.add')),
    live.length > 0 && h('button', { type: 'button', class: 'danger', onclick: () => revokeAll(address, reload) }, t('device.revokeAll')));
  if (all.length === 0) {
    body.replaceChildren(toolbar, h('div', { class: 'empty' }, h('h2', null, t('device.emptyTitle')), h('p', null, t('device.emptyWhat')), h('p', null, t('device.emptyWhy'))));
    return;
  }
  const cols = ['name', 'user', 'created', 'lastUsed', 'scopes', 'expiry', 'status', 'rotation', 'actions'];
  body.replaceChildren(toolbar, h('table', { id: 'devices' },
    h('caption', { class: 'visually-hidden' }, t('device.caption', { address })),
    h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col' }, t(`device.col.${c}`))))),
    h('tbody', null, all.map((d) => h('tr', { 'data-device': d.id },
      h('td', null, d.name, d.note ? h('div', { class: 'muted' }, d.note) : null),
      h('td', null, d.user || '—'),
      h('td', null, date(d.createdAt), h('div', { class: 'muted' }, t('device.by', { who: d.createdBy }))),
      h('td', null, lastUsed(d)),
      h('td', null, d.scopes.map((/** @type {string} */ s) => h('span', { class: 'badge' }, s.toUpperCase()))),
      h('td', null, d.expiresAt ? h('span', { title: date(d.expiresAt) }, t(new Date(d.expiresAt) > new Date() ? 'device.expiresIn' : 'device.expiredAgo', { when: relative(d.expiresAt) })) : t('device.noExpiry')),
      h('td', { class: `status-${d.status}` }, t(`status.${d.status}`)),
      h('td', null, rotationText(d)),
      h('td', null, (d.status === 'active' || d.status === 'disabled') ? deviceMenu(address, d, reload) : null))))));
}

/**
 * The ⋮ menu of one device, a menu button with arrow-key navigation.
 * @param {string} address @param {any} d @param {() => void} reload
 */
function deviceMenu(address, d, reload) {
  const items = [
    ['regenerate', t('menu.regenerate'), () => regenerate(address, d, reload)],
    [d.status === 'active' ? 'disable' : 'enable', t(d.status === 'active' ? 'menu.disable' : 'menu.enable'), async () => {
      await call('PATCH', `/v1/mailboxes/${enc(address)}/devices/${d.id}`, { status: d.status === 'active' ? 'disabled' : 'active' });
      announce(t(d.status === 'active' ? 'menu.disabled' : 'menu.enabled', { name: d.name }));
      reload();
    }],
    ['edit', t('menu.edit'), () => editDevice(address, d, reload)],
    ['revoke', t('menu.revoke'), () => revoke(address, d, reload)],
  ];
  const list = h('div', { role: 'menu', hidden: true });
  const button = h('button', { type: 'button', class: 'secondary', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-label': t('menu.label', { name: d.name }) }, '⋮');
  const close = () => { list.hidden = true; button.setAttribute('aria-expanded', 'false'); };
  for (const [id, label, run] of items) {
    list.append(h('button', { type: 'button', role: 'menuitem', tabindex: '-1', 'data-action': id, onclick: () => { close(); button.focus(); /** @type {Function} */ (run)(); } }, /** @type {string} */ (label)));
  }
  const menuItems = () => /** @type {HTMLElement[]} */ ([...list.querySelectorAll('[role=menuitem]')]);
  button.addEventListener('click', () => {
    const open = list.hidden;
    list.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) menuItems()[0].focus();
  });
  list.addEventListener('keydown', (ev) => {
    const its = menuItems();
    const i = its.indexOf(/** @type {HTMLElement} */ (document.activeElement));
    if (ev.key === 'ArrowDown') { ev.preventDefault(); its[(i + 1) % its.length].focus(); }
    if (ev.key === 'ArrowUp') { ev.preventDefault(); its[(i - 1 + its.length) % its.length].focus(); }
    if (ev.key === 'Escape' || ev.key === 'Tab') { close(); button.focus(); }
  });
  return h('div', { class: 'menu' }, button, list);
}

/** @param {string} purpose */
function suggestName(purpose) {
  return `${t(`purpose.${purpose}`)}, ${new Date().toISOString().slice(0, 10)}`;
}

/**
 * The presets of Add a device's expiry, each a Go duration; "" is no
 * expiry and "date" a chosen day.
 */
const EXPIRY_PRESETS = [['none', ''], ['day', '24h'], ['week', '168h'], ['month', '720h']];

/**
 * Add a device, within the limits of the mailbox's domain: only the
 * allowed scopes, an expiry when one is required and never beyond the
 * longest lifetime (the default lifetime preselected), an allow-list when
 * required, a rotation at least as often as required. A refusal of the
 * policy (its limits changed since) shows on the field it names.
 * @param {string} address @param {() => void} reload
 */
async function addDevice(address, reload) {
  /** @type {any} */
  let limits = null;
  try { limits = (await call('GET', `/v1/mailboxes/${enc(address)}`)).limits || null; } catch { /* no limits shown; the API still enforces them */ }
  const domain = address.slice(address.lastIndexOf('@') + 1);
  if (limits && !limits.selfService && !me.adminDomains.includes(domain)) {
    // Say so before the person fills a form the API would refuse.
    const d = dialog(t('add.title'), [h('p', { id: 'no-self-service' }, t('limits.selfService')),
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => d.close() }, t('common.close')))]);
    return;
  }
  const allowed = limits ? limits.allowedScopes : SCOPES;
  // The usual mail scopes where allowed, else every allowed one.
  const usual = allowed.filter((/** @type {string} */ s) => ['imap', 'pop', 'smtp'].includes(s));
  const preset = usual.length ? usual : allowed;
  const maxLife = limits ? seconds(limits.maxLifetime) : NaN;
  const dfltLife = limits ? limits.defaultLifetime : null;
  const presets = EXPIRY_PRESETS.filter(([id, v]) => (id === 'none' ? !(limits && limits.requireExpiry) : !(seconds(v) > maxLife)));
  if (limits && limits.maxLifetime && !presets.some(([, v]) => seconds(v) === maxLife) && maxLife < seconds('8760h')) {
    presets.push(['max', limits.maxLifetime]);
  }
  if (dfltLife && !presets.some(([, v]) => seconds(v) === seconds(dfltLife))) presets.push(['default', dfltLife]);
  // Preselected: the default lifetime, else no expiry, else the shortest.
  const chosen = dfltLife ? /** @type {string[]} */ (presets.find(([, v]) => seconds(v) === seconds(dfltLife)))[1] : (presets[0] ? presets[0][1] : 'date');
  const lastDay = Number.isFinite(maxLife) && maxLife < seconds('8760h') ? new Date(Date.now() + maxLife * 1000 - 86400000).toISOString().slice(0, 10) : null;
  const needIps = !!(limits && limits.requireAllowIps);
  const maxEvery = limits ? member(limits, "rotation.requiredMaxEveryDays") : null;
  /** @type {[string, string][]} */
  let rotations = [['', t('rotation.none')], ['30', t('rotation.30')], ['90', t('rotation.90')]];
  if (maxEvery) {
    rotations = rotations.filter(([v]) => v !== '' && Number(v) <= maxEvery);
    if (!rotations.some(([v]) => Number(v) === maxEvery)) rotations.push([String(maxEvery), t('rotation.every', { n: maxEvery })]);
  }
  const fieldErr = (/** @type {string} */ id) => h('p', { class: 'error field-error', id: `${id}-error` });
  const err = h('p', { class: 'error', role: 'alert' });
  const f = /** @type {HTMLFormElement} */ (h('form', { method: 'dialog', id: 'add-form' },
    h('label', { for: 'purpose' }, t('add.purpose')),
    h('select', { id: 'purpose', name: 'purpose', onchange: () => { name.value = suggestName(/** @type {HTMLSelectElement} */ (f.elements.namedItem('purpose')).value); } },
      ['phone', 'computer', 'website', 'other'].map((p) => h('option', { value: p }, t(`purpose.${p}`)))),
    h('div', { 'data-field': 'name' }, h('label', { for: 'name' }, t('add.name')),
      h('input', { id: 'name', name: 'name', required: true, maxlength: 64, value: suggestName('phone'), 'aria-describedby': 'name-error' }), fieldErr('name')),
    h('div', { 'data-field': 'user' }, h('label', { for: 'user' }, t('add.user')), h('input', { id: 'user', name: 'user', maxlength: 128, 'aria-describedby': 'user-error' }), fieldErr('user')),
    h('label', { for: 'note' }, t('add.note')), h('textarea', { id: 'note', name: 'note', maxlength: 500, rows: 2 }),
    h('fieldset', { 'data-field': 'scopes', 'aria-describedby': 'scopes-help scopes-error' }, h('legend', null, t('add.scopes')),
      allowed.map((/** @type {string} */ s) => h('label', null,
        h('input', { type: 'checkbox', name: 'scope', value: s, checked: preset.includes(s) }), ` ${s.toUpperCase()}`)),
      allowed.length < SCOPES.length ? h('p', { class: 'muted', id: 'scopes-help' }, t('limits.scopes')) : null, fieldErr('scopes')),
    h('fieldset', { 'data-field': 'expiry', 'aria-describedby': 'expiry-help expiry-error' }, h('legend', null, t(limits && limits.requireExpiry ? 'add.expiryRequired' : 'add.expiry')),
      [...presets, ['date', 'date']].map(([id, v]) => h('label', null,
        h('input', { type: 'radio', name: 'expiry', value: v, checked: v === chosen }),
        ` ${id === 'max' ? t('expiry.max', { d: v }) : id === 'default' ? t('expiry.default', { d: v }) : t(`expiry.${id}`)}`)),
      h('label', { for: 'expiry-date' }, t('expiry.dateLabel')), h('input', { id: 'expiry-date', name: 'expiryDate', type: 'date', max: lastDay }),
      limits && (limits.requireExpiry || lastDay) ? h('p', { class: 'muted', id: 'expiry-help' }, t('limits.lifetime', { d: limits.maxLifetime })) : null,
      fieldErr('expiry')),
    h('div', { 'data-field': 'allowIps' },
      h('label', { for: 'allow' }, t(needIps ? 'add.allowIpsRequired' : 'add.allowIps')),
      h('input', { id: 'allow', name: 'allow', required: needIps, value: limits ? limits.defaultAllowIps.join(', ') : '', 'aria-describedby': 'allow-help allow-error' }),
      h('p', { id: 'allow-help', class: 'muted' }, t(needIps ? 'limits.allowIps' : 'add.allowIpsHelp')), fieldErr('allow')),
    h('div', { 'data-field': 'rotation' },
      h('label', { for: 'rotate' }, t('add.rotation')),
      h('select', { id: 'rotate', name: 'rotate', 'aria-describedby': maxEvery ? 'rotate-help rotate-error' : 'rotate-error' },
        rotations.map(([v, label], i) => h('option', { value: v, selected: maxEvery ? i === rotations.length - 1 : v === '' }, label))),
      maxEvery ? h('p', { class: 'muted', id: 'rotate-help' }, t('limits.rotation', { n: maxEvery })) : null, fieldErr('rotate')),
    err,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: () => d.close() }, t('common.cancel')),
      h('button', { type: 'submit', id: 'add-submit' }, t('add.submit')))));
  const name = /** @type {HTMLInputElement} */ (f.elements.namedItem('name'));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFields(f);
    err.textContent = '';
    const val = (/** @type {string} */ n) => /** @type {HTMLInputElement} */ (f.elements.namedItem(n)).value.trim();
    /** @type {any} */
    const body = { name: val('name'), scopes: [...f.querySelectorAll('input[name=scope]:checked')].map((e) => /** @type {HTMLInputElement} */ (e).value) };
    if (val('user')) body.user = val('user');
    if (val('note')) body.note = val('note');
    const exp = /** @type {HTMLInputElement|null} */ (f.querySelector('input[name=expiry]:checked'))?.value || '';
    if (exp === 'date' && !val('expiryDate')) {
      showOnField(f, new Problem(400, { detail: t('add.dateMissing'), field: 'expiry' }, false));
      return;
    }
    if (exp === 'date') body.expiresAt = new Date(`${val('expiryDate')}T23:59:59`).toISOString();
    else if (exp) body.validFor = exp;
    if (val('allow')) body.allowIps = val('allow').split(/[\s,]+/).filter(Boolean);
    if (val('rotate')) body.rotation = { everyDays: Number(val('rotate')) };
    try {
      const created = await withStepUp(() => call('POST', `/v1/mailboxes/${enc(address)}/devices`, body));
      d.close();
      showPassword(address, created, reload);
    } catch (e) {
      if (!(e instanceof Problem && e.field && showOnField(f, new Problem(e.status, { detail: e.message, field: ADD_FIELDS[e.field] || e.field }, false)))) err.textContent = errorText(e);
    }
  });
  const d = dialog(t('add.title'), [f]);
}

/**
 * Where Add a device shows a problem, by the field the API names: the
 * policy's rules (403 policy_violation) and the request's members (400).
 * @type {Record<string, string>}
 */
const ADD_FIELDS = {
  requireExpiry: 'expiry', maxLifetime: 'expiry', expiresAt: 'expiry', validFor: 'expiry',
  allowedScopes: 'scopes', requireAllowIps: 'allowIps', allowIps: 'allowIps',
  "rotation.requiredMaxEveryDays": 'rotation', "rotation.everyDays": 'rotation', rotation: 'rotation',
};

/**
 * The password, once: blocks of 4 in a monospace font, a copy button, the
 * mail settings, an Apple profile made here, and an explicit close.
 * @param {string} address @param {any} created @param {() => void} after
 */
function showPassword(address, created, after) {
  const pw = created.password;
  const blocks = pw.match(/.{1,4}/g).join(' ');
  const domain = address.slice(address.lastIndexOf('@') + 1);
  const mail = mailSettings(domain);
  const copy = h('button', { type: 'button', id: 'copy-password', onclick: async () => {
    try { await navigator.clipboard.writeText(pw); announce(t('password.copied')); copy.textContent = t('password.copiedShort'); } catch { announce(t('password.copyFailed')); }
  } }, t('password.copy'));
  const profile = h('a', { class: 'button secondary', download: `${created.device.name.replace(/[^\w.-]+/g, '-')}.mobileconfig`, onclick: (/** @type {Event} */ ev) => {
    const blob = new Blob([mobileconfig({ address, user: created.device.user || address, password: pw, name: created.device.name, mail })], { type: 'application/x-apple-aspen-config' });
    const url = URL.createObjectURL(blob);
    /** @type {HTMLAnchorElement} */ (ev.currentTarget).href = url;
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } }, t('password.profile'));
  const d = dialog(t('password.title', { name: created.device.name }), [
    h('p', null, t('password.once')),
    h('p', { class: 'password', id: 'password', 'aria-label': t('password.label') }, blocks),
    h('p', { class: 'muted' }, t('password.spaces')),
    h('div', { class: 'toolbar' }, copy, profile),
    h('h3', null, t('password.settings')),
    h('dl', null,
      h('dt', null, t('password.username')), h('dd', null, created.device.user || address),
      h('dt', null, 'IMAP'), h('dd', null, `${mail.imap.host}:${mail.imap.port} (TLS)`),
      h('dt', null, 'SMTP'), h('dd', null, `${mail.smtp.host}:${mail.smtp.port} (STARTTLS)`)),
    h('div', { class: 'actions' }, h('button', { type: 'button', id: 'saved', onclick: () => { d.close(); after(); } }, t('password.saved'))),
  ], { sticky: true });
}

/** @param {string} domain */
function mailSettings(domain) {
  const m = config.mail || {};
  const host = (/** @type {string|undefined} */ s, /** @type {string} */ dflt) => (s || dflt).replace('{domain}', domain);
  return {
    imap: { host: host(m.imapHost, 'imap.{domain}'), port: m.imapPort || 993 },
    smtp: { host: host(m.smtpHost, 'smtp.{domain}'), port: m.smtpPort || 587 },
  };
}

/** @param {string} address @param {any} d @param {() => void} reload */
function regenerate(address, d, reload) {
  const err = h('p', { class: 'error', role: 'alert' });
  const dlg = dialog(t('regen.title', { name: d.name }), [
    h('p', null, t('regen.warning')), err,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, t('common.cancel')),
      h('button', { type: 'button', class: 'danger', id: 'regen-confirm', onclick: async () => {
        try {
          const created = await withStepUp(() => call('POST', `/v1/mailboxes/${enc(address)}/devices/${d.id}/password`));
          dlg.close();
          showPassword(address, created, reload);
        } catch (e) { err.textContent = errorText(e); }
      } }, t('regen.confirm'))),
  ]);
}

/** @param {string} address @param {any} d @param {() => void} reload */
function revoke(address, d, reload) {
  const err = h('p', { class: 'error', role: 'alert' });
  const dlg = dialog(t('revoke.title', { name: d.name }), [
    h('p', null, t('revoke.warning')), err,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, t('common.cancel')),
      h('button', { type: 'button', class: 'danger', id: 'revoke-confirm', onclick: async () => {
        try {
          await call('DELETE', `/v1/mailboxes/${enc(address)}/devices/${d.id}`);
          dlg.close();
          announce(t('revoke.done', { name: d.name }));
          reload();
        } catch (e) { err.textContent = errorText(e); }
      } }, t('revoke.confirm'))),
  ]);
}

/** @param {string} address @param {any} d @param {() => void} reload */
function editDevice(address, d, reload) {
  const err = h('p', { class: 'error', role: 'alert' });
  const f = h('form', null,
    h('label', { for: 'edit-name' }, t('add.name')), h('input', { id: 'edit-name', required: true, maxlength: 64, value: d.name }),
    h('label', { for: 'edit-note' }, t('add.note')), h('textarea', { id: 'edit-note', maxlength: 500, rows: 2 }, d.note || ''),
    err,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, t('common.cancel')),
      h('button', { type: 'submit' }, t('common.save'))));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = /** @type {HTMLInputElement} */ (document.getElementById('edit-name')).value.trim();
    const note = /** @type {HTMLTextAreaElement} */ (document.getElementById('edit-note')).value.trim();
    try {
      await call('PATCH', `/v1/mailboxes/${enc(address)}/devices/${d.id}`, { name, note: note || null });
      dlg.close();
      reload();
    } catch (e) { err.textContent = errorText(e); }
  });
  const dlg = dialog(t('edit.title', { name: d.name }), [f]);
}

/** @param {string} address @param {() => void} reload */
function revokeAll(address, reload) {
  const err = h('p', { class: 'error', role: 'alert' });
  const input = /** @type {HTMLInputElement} */ (h('input', { id: 'confirm-address', autocomplete: 'off' }));
  const dlg = dialog(t('revokeAll.title'), [
    h('p', null, t('revokeAll.warning')),
    h('label', { for: 'confirm-address' }, t('revokeAll.type', { address })), input, err,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, t('common.cancel')),
      h('button', { type: 'button', class: 'danger', id: 'revoke-all-confirm', onclick: async () => {
        if (input.value.trim() !== address) { err.textContent = t('revokeAll.mismatch'); input.focus(); return; }
        try {
          const r = await withStepUp(() => call('POST', `/v1/mailboxes/${enc(address)}/devices/revoke-all`));
          dlg.close();
          announce(t('revokeAll.done', { n: r.revoked }));
          reload();
        } catch (e) { err.textContent = errorText(e); }
      } }, t('revokeAll.confirm'))),
  ]);
}

// ---- audit ----

/** @param {string} address @param {HTMLElement} body */
async function auditTab(address, body) {
  const cursors = [''];
  let at = 0;
  async function load() {
    const p = await call('GET', `/v1/mailboxes/${enc(address)}/audit?limit=25${cursors[at] ? `&cursor=${enc(cursors[at])}` : ''}`);
    cursors[at + 1] = p.next || '';
    body.replaceChildren(p.items.length === 0 ? h('p', { class: 'empty' }, t('audit.none')) : h('table', null,
      h('caption', { class: 'visually-hidden' }, t('audit.caption', { address })),
      h('thead', null, h('tr', null, ['when', 'who', 'what', 'from'].map((c) => h('th', { scope: 'col' }, t(`audit.${c}`))))),
      h('tbody', null, p.items.map((/** @type {any} */ e) => h('tr', null,
        h('td', null, date(e.time)), h('td', null, e.actor.subject || t(`actor.${e.actor.kind}`)),
        h('td', null, e.type, e.device ? h('div', { class: 'muted' }, e.device.name) : null),
        h('td', null, e.actor.sourceIp || '—'))))),
    h('div', { class: 'toolbar' },
      h('button', { class: 'secondary', type: 'button', disabled: at === 0, onclick: () => { at--; load(); } }, t('common.previous')),
      h('button', { class: 'secondary', type: 'button', disabled: !p.next, onclick: () => { at++; load(); } }, t('common.next'))));
  }
  await load();
}

// ---- enrollment links ----

/** @param {string} address @param {HTMLElement} body */
async function linksTab(address, body) {
  /** @type {any} */
  let limits = null;
  try { limits = (await call('GET', `/v1/mailboxes/${enc(address)}`)).limits || null; } catch { /* no limits shown; the API still enforces them */ }
  // The device lifetimes and link validities the domain's policy allows.
  const maxLife = limits ? seconds(limits.maxLifetime) : NaN;
  const lifetimes = [['', 'expiry.none'], ['24h', 'expiry.day'], ['168h', 'expiry.week'], ['720h', 'expiry.month']]
    .filter(([v]) => (v === '' ? !(limits && limits.requireExpiry) : !(seconds(v) > maxLife)))
    .map(([v, k]) => [v, t(k)]);
  if (limits && !lifetimes.some(([v]) => seconds(v) === maxLife) && maxLife < seconds('8760h')) lifetimes.push([limits.maxLifetime, t('expiry.max', { d: limits.maxLifetime })]);
  const maxLink = limits ? seconds(limits.enrollmentMaxValidity) : NaN;
  const ttls = [['24h', 'expiry.day'], ['168h', 'expiry.week']].filter(([v]) => !(seconds(v) > maxLink)).map(([v, k]) => [v, t(k)]);
  if (limits && !ttls.some(([v]) => seconds(v) === maxLink)) ttls.push([limits.enrollmentMaxValidity, t('expiry.max', { d: limits.enrollmentMaxValidity })]);
  const dfltLife = limits ? limits.defaultLifetime : null;
  const err = h('p', { class: 'error', role: 'alert' });
  const f = h('form', null, h('h2', null, t('links.create')),
    h('label', { for: 'link-name' }, t('add.name')), h('input', { id: 'link-name', required: true, maxlength: 64, value: suggestName('phone') }),
    h('label', { for: 'link-user' }, t('links.user')), h('input', { id: 'link-user', maxlength: 128 }),
    h('label', { for: 'link-valid' }, t('links.deviceLifetime')), h('select', { id: 'link-valid' },
      lifetimes.map(([v, label]) => h('option', { value: v, selected: !!dfltLife && seconds(v) === seconds(dfltLife) }, label))),
    h('label', { for: 'link-ttl' }, t('links.linkLifetime')), h('select', { id: 'link-ttl' },
      ttls.map(([v, label]) => h('option', { value: v }, label))),
    err, h('p', null, h('button', { type: 'submit', id: 'link-submit' }, t('links.submit'))));
  const list = h('div', { id: 'open-links' });
  const cursors = [''];
  let at = 0;
  /** Lists the open links, from the API, a page at a time. */
  const renderList = async () => {
    const p = await call('GET', `/v1/mailboxes/${enc(address)}/enrollments?limit=25${cursors[at] ? `&cursor=${enc(cursors[at])}` : ''}`);
    cursors[at + 1] = p.next || '';
    list.replaceChildren(h('h2', null, t('links.open')), p.items.length === 0
      ? h('p', { class: 'muted' }, t('links.none'))
      : h('ul', null, p.items.map((/** @type {any} */ l) => h('li', null,
        `${l.name}${l.user ? ` (${l.user})` : ''} · ${t('links.until', { when: date(l.expiresAt) })} `,
        h('button', { type: 'button', class: 'secondary', 'aria-label': t('links.cancelNamed', { name: l.name }), onclick: async () => {
          try { await call('DELETE', `/v1/mailboxes/${enc(address)}/enrollments/${l.id}`); announce(t('links.cancelled')); await renderList(); } catch (e) { err.textContent = errorText(e); }
        } }, t('links.cancel'))))),
      h('div', { class: 'toolbar' },
        h('button', { class: 'secondary', type: 'button', disabled: at === 0, onclick: () => { at--; renderList(); } }, t('common.previous')),
        h('button', { class: 'secondary', type: 'button', disabled: !p.next, onclick: () => { at++; renderList(); } }, t('common.next'))));
  };
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id)).value.trim();
    /** @type {any} */
    const req = { name: v('link-name'), tokenValidFor: v('link-ttl') };
    if (v('link-user')) req.user = v('link-user');
    if (v('link-valid')) req.validFor = v('link-valid');
    try {
      const r = await call('POST', `/v1/mailboxes/${enc(address)}/enrollments`, req);
      await renderList();
      const url = `${location.origin}${location.pathname}#/redeem/${r.token}`;
      const copy = h('button', { type: 'button', onclick: async () => { await navigator.clipboard.writeText(url); announce(t('links.copied')); } }, t('links.copy'));
      const dlg = dialog(t('links.madeTitle'), [
        h('p', null, t('links.once')),
        h('p', null, h('input', { readonly: true, value: url, id: 'link-url', 'aria-label': t('links.url') })),
        h('div', { class: 'toolbar' }, copy),
        await qrCode(url, t('links.qr')),
        h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => dlg.close() }, t('common.close'))),
      ], { sticky: true });
    } catch (e) { err.textContent = errorText(e); }
  });
  body.replaceChildren(f, list);
  return renderList();
}

/**
 * A QR code of text as an SVG image, built node by node. The QR library
 * (uqr, vendored from the pinned npm package) loads only when a link is
 * made, so the first load stays small.
 * @param {string} text @param {string} label
 */
async function qrCode(text, label) {
  const { encode } = await import('./vendor/uqr.mjs');
  const qr = encode(text, { ecc: 'M', border: 2 });
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${qr.size} ${qr.size}`);
  svg.setAttribute('class', 'qr');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('shape-rendering', 'crispEdges');
  const bg = document.createElementNS(ns, 'rect');
  bg.setAttribute('width', String(qr.size));
  bg.setAttribute('height', String(qr.size));
  bg.setAttribute('fill', '#fff');
  let d = '';
  qr.data.forEach((row, y) => row.forEach((on, x) => { if (on) d += `M${x} ${y}h1v1h-1z`; }));
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000');
  svg.append(bg, path);
  return h('p', null, /** @type {any} */ (svg));
}

async function redeemPage() {
  if (!pendingRedeem) return homePage();
  const token = pendingRedeem;
  const err = h('p', { class: 'error', role: 'alert' });
  page(t('redeem.title'), h('p', null, t('redeem.intro')), err,
    h('button', { type: 'button', id: 'redeem', onclick: async () => {
      try {
        const created = await call('POST', `/v1/enrollments/${enc(token)}/device`);
        pendingRedeem = '';
        showPassword(created.device.mailbox, created, () => { location.hash = '#/'; });
      } catch (e) { err.textContent = errorText(e); }
    } }, t('redeem.button')));
}

async function start() {
  await load();
  try { config = await (await fetch('config.json', { cache: 'no-store' })).json(); } catch { /* the local defaults */ }
  window.addEventListener('hashchange', () => { route(); });
  await route();
}

start();
