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
  page(domain, search, status, table, register);
  await load();
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

/** @param {string} address @param {() => void} reload */
function addDevice(address, reload) {
  const err = h('p', { class: 'error', role: 'alert' });
  const f = /** @type {HTMLFormElement} */ (h('form', { method: 'dialog', id: 'add-form' },
    h('label', { for: 'purpose' }, t('add.purpose')),
    h('select', { id: 'purpose', name: 'purpose', onchange: () => { name.value = suggestName(/** @type {HTMLSelectElement} */ (f.elements.namedItem('purpose')).value); } },
      ['phone', 'computer', 'website', 'other'].map((p) => h('option', { value: p }, t(`purpose.${p}`)))),
    h('label', { for: 'name' }, t('add.name')),
    h('input', { id: 'name', name: 'name', required: true, maxlength: 64, value: suggestName('phone') }),
    h('label', { for: 'user' }, t('add.user')), h('input', { id: 'user', name: 'user', maxlength: 128 }),
    h('label', { for: 'note' }, t('add.note')), h('textarea', { id: 'note', name: 'note', maxlength: 500, rows: 2 }),
    h('fieldset', null, h('legend', null, t('add.scopes')),
      ['imap', 'pop', 'smtp', 'caldav', 'carddav'].map((s) => h('label', null,
        h('input', { type: 'checkbox', name: 'scope', value: s, checked: ['imap', 'pop', 'smtp'].includes(s) }), ` ${s.toUpperCase()}`))),
    h('fieldset', null, h('legend', null, t('add.expiry')),
      [['none', ''], ['day', '24h'], ['week', '168h'], ['month', '720h'], ['date', 'date']].map(([id, v]) => h('label', null,
        h('input', { type: 'radio', name: 'expiry', value: v, checked: id === 'none' }), ` ${t(`expiry.${id}`)}`)),
      h('label', { for: 'expiry-date' }, t('expiry.dateLabel')), h('input', { id: 'expiry-date', name: 'expiryDate', type: 'date' })),
    h('label', { for: 'allow' }, t('add.allowIps')), h('input', { id: 'allow', name: 'allow', 'aria-describedby': 'allow-help' }),
    h('p', { id: 'allow-help', class: 'muted' }, t('add.allowIpsHelp')),
    h('label', { for: 'rotate' }, t('add.rotation')), h('select', { id: 'rotate', name: 'rotate' },
      [['', 'rotation.none'], ['30', 'rotation.30'], ['90', 'rotation.90']].map(([v, k]) => h('option', { value: v }, t(k)))),
    err,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: () => d.close() }, t('common.cancel')),
      h('button', { type: 'submit', id: 'add-submit' }, t('add.submit')))));
  const name = /** @type {HTMLInputElement} */ (f.elements.namedItem('name'));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const val = (/** @type {string} */ n) => /** @type {HTMLInputElement} */ (f.elements.namedItem(n)).value.trim();
    /** @type {any} */
    const body = { name: val('name'), scopes: [...f.querySelectorAll('input[name=scope]:checked')].map((e) => /** @type {HTMLInputElement} */ (e).value) };
    if (val('user')) body.user = val('user');
    if (val('note')) body.note = val('note');
    const exp = /** @type {HTMLInputElement|null} */ (f.querySelector('input[name=expiry]:checked'))?.value || '';
    if (exp === 'date') body.expiresAt = new Date(`${val('expiryDate')}T23:59:59`).toISOString();
    else if (exp) body.validFor = exp;
    if (val('allow')) body.allowIps = val('allow').split(/[\s,]+/).filter(Boolean);
    if (val('rotate')) body.rotation = { everyDays: Number(val('rotate')) };
    try {
      const created = await withStepUp(() => call('POST', `/v1/mailboxes/${enc(address)}/devices`, body));
      d.close();
      showPassword(address, created, reload);
    } catch (e) { err.textContent = errorText(e); }
  });
  const d = dialog(t('add.title'), [f]);
}

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
function linksTab(address, body) {
  const err = h('p', { class: 'error', role: 'alert' });
  const f = h('form', null, h('h2', null, t('links.create')),
    h('label', { for: 'link-name' }, t('add.name')), h('input', { id: 'link-name', required: true, maxlength: 64, value: suggestName('phone') }),
    h('label', { for: 'link-user' }, t('links.user')), h('input', { id: 'link-user', maxlength: 128 }),
    h('label', { for: 'link-valid' }, t('links.deviceLifetime')), h('select', { id: 'link-valid' },
      [['', 'expiry.none'], ['24h', 'expiry.day'], ['168h', 'expiry.week'], ['720h', 'expiry.month']].map(([v, k]) => h('option', { value: v }, t(k)))),
    h('label', { for: 'link-ttl' }, t('links.linkLifetime')), h('select', { id: 'link-ttl' },
      [['24h', 'expiry.day'], ['168h', 'expiry.week']].map(([v, k]) => h('option', { value: v }, t(k)))),
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
