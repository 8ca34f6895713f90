// The console's seed flow in Chromium, run by browser_test.go against the
// local runner. Every page and dialog passes axe-core with no violation; no
// password or link token ever shows in storage, cookies, the URL or the
// console. Screenshots go to $ARTIFACTS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const URL_ = process.env.CONSOLE_URL;
const ARTIFACTS = process.env.ARTIFACTS;
const SECRETS_FILE = process.env.SECRETS_FILE;
const MAILBOX = 'alice@example.com';

/** Every secret shown so far, to look for where it must not be. */
const secrets = [];
function remember(s) {
  assert.ok(s && s.length >= 16, 'a secret of at least 16 characters');
  secrets.push(s);
  fs.appendFileSync(SECRETS_FILE, `${s}\n`);
}

async function api(method, p, token, body) {
  const res = await fetch(URL_ + p, {
    method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
}

async function token(sub, groups = [], email = `${sub}@example.com`) {
  const res = await fetch(`${URL_}/local/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ sub, email, groups }) });
  return (await res.json()).token;
}

async function verifies(password) {
  const mx = await token('mx-1', ['mail-server']);
  const r = await api('POST', '/v1/verify', mx, { mailbox: MAILBOX, password, protocol: 'imap', clientIp: '192.0.2.10' });
  assert.equal(r.status, 200, `verify: ${JSON.stringify(r.json)}`);
  return r.json.valid;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
after(() => browser.close());

/** A fresh browser context (its own storage), with the console's checks. */
async function open(locale = 'en-US') {
  const ctx = await browser.newContext({ locale, viewport: { width: 1280, height: 800 } });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: URL_ });
  const page = await ctx.newPage();
  page.consoleLines = [];
  page.on('console', (m) => page.consoleLines.push(m.text()));
  page.on('pageerror', (e) => page.consoleLines.push(`pageerror: ${e.message}`));
  await page.goto(`${URL_}/`);
  return page;
}

/** axe-core on what is shown now (the open dialog, if any, included). */
async function axe(page, what) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const v = res.violations.map((x) => `${x.id}: ${x.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(v, [], `axe violations on ${what}`);
}

/** Nothing secret in storage, cookies, the URL or the console. */
async function clean(page, what) {
  const stores = await page.evaluate(() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)]));
  const cookies = JSON.stringify(await page.context().cookies());
  assert.equal(stores, '[[],[]]', `${what}: web storage is used`);
  assert.equal(cookies, '[]', `${what}: cookies are set`);
  const history = await page.evaluate(() => location.href);
  for (const s of secrets) {
    assert.ok(!page.url().includes(s) && !history.includes(s), `${what}: a secret is in the URL`);
    assert.ok(!page.consoleLines.some((l) => l.includes(s)), `${what}: a secret is in the console`);
  }
  assert.ok(!page.consoleLines.some((l) => l.startsWith('pageerror')), `${what}: ${page.consoleLines.join('; ')}`);
}

let shot = 0;
async function step(page, name, { fullPage = false } = {}) {
  shot++;
  await page.screenshot({ path: path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage });
  await axe(page, name);
  await clean(page, name);
}

async function signIn(page, sub, { groups = '', ageMinutes = 0 } = {}) {
  await page.locator('#sub').fill(sub);
  await page.locator('#email').fill(`${sub}@example.com`);
  await page.locator('#groups').fill(groups);
  await page.locator('#age').fill(String(ageMinutes));
  await page.getByRole('button', { name: /sign in|se connecter/i }).click();
}

/** Reads the password dialog's password and checks its presentation. */
async function readPassword(page) {
  const shown = (await page.locator('#password').textContent()).trim();
  assert.match(shown, /^(\S{4} )*\S{1,4}$/, 'the password is shown in blocks of four');
  const pw = shown.replace(/ /g, '');
  remember(pw);
  const font = await page.locator('#password').evaluate((e) => getComputedStyle(e).fontFamily);
  assert.match(font, /mono|Menlo|Consolas/i, 'the password is in a monospace font');
  return pw;
}

/** Presses Tab until selector has the focus: it fails if the keyboard cannot reach it. */
async function tabTo(page, selector) {
  for (let i = 0; i < 80; i++) {
    if (await page.evaluate((sel) => document.activeElement?.matches(sel) ?? false, selector)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`the keyboard does not reach ${selector}`);
}

async function menu(page, deviceName, action) {
  const row = page.locator('#devices tbody tr', { hasText: deviceName });
  const button = row.locator('button[aria-haspopup=menu]');
  await button.focus();
  await page.keyboard.press('Enter'); // keyboard only: open, move, choose
  const items = ['regenerate', 'disable', 'edit', 'revoke'];
  for (let i = 0; i < items.indexOf(action); i++) await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
}

test('the seed flow', async () => {
  const admin = await token('admin-1', ['domain-admin:example.com']);
  const reg = await api('PUT', `/v1/mailboxes/${MAILBOX}`, admin, { owner: 'alice' });
  assert.equal(reg.status, 201);

  // Sign in with a login 10 minutes old: too old for adding a device.
  const alice = await open();
  await step(alice, 'signin');
  await signIn(alice, 'alice', { ageMinutes: 10 });
  await alice.getByRole('link', { name: MAILBOX }).waitFor();
  await step(alice, 'home');

  await alice.getByRole('link', { name: MAILBOX }).click();
  await alice.getByRole('heading', { name: /no devices yet/i }).waitFor();
  await step(alice, 'devices-empty');

  // Add a device: the API asks for a fresh login; after it the same
  // request goes on with what was typed.
  await alice.locator('#add-device').click();
  await alice.locator('#purpose').selectOption('website');
  const name = (await alice.locator('#name').inputValue()).trim();
  assert.match(name, /^website SMTP, \d{4}-\d{2}-\d{2}$/, 'the name is suggested from purpose and date');
  await alice.locator('#note').fill('the shop');
  await step(alice, 'add-device');
  await alice.locator('#add-submit').click();
  await alice.locator('#signin-again').waitFor();
  await step(alice, 'fresh-login');
  await alice.locator('#signin-again').click();
  await alice.locator('#password').waitFor();
  await step(alice, 'password');
  assert.match(await alice.locator('dialog h2').textContent(), new RegExp(name));
  const first = await readPassword(alice);

  await alice.locator('#copy-password').click();
  assert.equal(await alice.evaluate(() => navigator.clipboard.readText()), first, 'the copy button copies the password');
  await alice.locator('#announce').filter({ hasText: /copied/i }).waitFor();
  assert.equal(await verifies(first), true, 'the shown password verifies');
  await alice.keyboard.press('Escape');
  assert.ok(await alice.locator('#password').isVisible(), 'Escape does not close the password dialog');
  await alice.locator('#saved').click();
  await alice.locator('#devices tbody tr', { hasText: name }).waitFor();
  await step(alice, 'devices');

  // Regenerate from the ⋮ menu, with the keyboard: the old password stops.
  await menu(alice, name, 'regenerate');
  await alice.locator('#regen-confirm').waitFor();
  await step(alice, 'regenerate-confirm');
  await alice.locator('#regen-confirm').click();
  await alice.locator('#password').waitFor();
  const second = await readPassword(alice);
  assert.notEqual(second, first);
  assert.equal(await verifies(first), false, 'the old password is refused after regenerate');
  assert.equal(await verifies(second), true, 'the new password verifies');
  await step(alice, 'regenerated');
  await alice.locator('#saved').click();

  // A temporary device for a week, with the keyboard only.
  await tabTo(alice, '#add-device');
  await alice.keyboard.press('Enter');
  await tabTo(alice, '#name');
  await alice.keyboard.press('Control+A');
  await alice.keyboard.type('intern laptop');
  await tabTo(alice, 'input[name=expiry][value=""]');
  await alice.keyboard.press('ArrowDown'); // 1 day
  await alice.keyboard.press('ArrowDown'); // 1 week
  assert.ok(await alice.locator('input[name=expiry][value="168h"]').isChecked(), 'the arrow keys pick the expiry preset');
  await tabTo(alice, '#add-submit');
  await alice.keyboard.press('Enter');
  await alice.locator('#password').waitFor();
  const temp = await readPassword(alice);
  await tabTo(alice, '#saved');
  await alice.keyboard.press('Enter');
  const tempRow = alice.locator('#devices tbody tr', { hasText: 'intern laptop' });
  await tempRow.waitFor();
  assert.match(await tempRow.textContent(), /Expires in (7 days|1 week|next week)/);
  await step(alice, 'temporary');

  // An administrator makes an enrollment link; another user redeems it in
  // a second browser context, in French.
  const adm = await open();
  await signIn(adm, 'admin-1', { groups: 'domain-admin:example.com' });
  await adm.getByRole('link', { name: 'example.com' }).click();
  await adm.getByRole('link', { name: MAILBOX }).waitFor();
  await step(adm, 'domain');
  await adm.goto(`${URL_}/#/m/${encodeURIComponent(MAILBOX)}/links`);
  await adm.locator('#link-name').fill('intern phone');
  await adm.locator('#link-user').fill('intern');
  await step(adm, 'links');
  await adm.locator('#link-submit').click();
  const link = await adm.locator('#link-url').inputValue();
  remember(decodeURIComponent(link.split('#/redeem/')[1]));
  await adm.locator('svg.qr path').waitFor();
  await step(adm, 'link-made');
  await adm.getByRole('button', { name: 'Close' }).click();
  // The open links come from the API; one made by mistake is cancelled.
  await adm.locator('#open-links li', { hasText: 'intern phone (intern)' }).waitFor();
  await adm.locator('#link-name').fill('spare link');
  await adm.locator('#link-user').fill('');
  await adm.locator('#link-submit').click();
  remember(decodeURIComponent((await adm.locator('#link-url').inputValue()).split('#/redeem/')[1]));
  await adm.getByRole('button', { name: 'Close' }).click();
  await adm.getByRole('button', { name: 'Cancel the link spare link' }).click();
  await adm.locator('#open-links li', { hasText: 'spare link' }).waitFor({ state: 'detached' });
  assert.equal(await adm.locator('#open-links li').count(), 1, 'the cancelled link leaves the list');
  await step(adm, 'open-links');

  const intern = await browser.newContext({ locale: 'fr-FR', viewport: { width: 1280, height: 800 } }).then((c) => c.newPage());
  intern.consoleLines = [];
  intern.on('console', (m) => intern.consoleLines.push(m.text()));
  await intern.goto(link);
  await intern.locator('#sub').waitFor();
  assert.ok(!intern.url().includes(secrets.at(-1)), 'the token leaves the address bar at once');
  await step(intern, 'redeem-signin');
  await signIn(intern, 'intern');
  await intern.locator('#redeem').click();
  await intern.locator('#password').waitFor();
  assert.match(await intern.locator('#saved').textContent(), /Je l’ai enregistré/);
  const enrolled = await readPassword(intern);
  assert.equal(await verifies(enrolled), true, 'the enrolled device password verifies');
  await step(intern, 'redeemed');

  // Revoke the temporary device.
  await menu(alice, 'intern laptop', 'revoke');
  await alice.locator('#revoke-confirm').waitFor();
  await step(alice, 'revoke-confirm');
  await alice.locator('#revoke-confirm').click();
  await alice.locator('#devices tbody tr', { hasText: 'intern laptop' }).filter({ hasText: 'Revoked' }).waitFor();
  assert.equal(await verifies(temp), false, 'a revoked password is refused');
  await step(alice, 'revoked');

  // Edit, then revoke all with the typed confirmation of the address.
  await menu(alice, name, 'edit');
  await alice.locator('#edit-name').fill('shop website');
  await step(alice, 'edit');
  await alice.getByRole('button', { name: 'Save' }).click();
  await alice.locator('#devices tbody tr', { hasText: 'shop website' }).waitFor();
  await alice.getByRole('button', { name: 'Revoke all devices' }).click();
  await alice.locator('#confirm-address').fill('alice@example.org');
  await alice.locator('#revoke-all-confirm').click();
  await alice.getByRole('alert').filter({ hasText: /does not match/ }).waitFor();
  assert.equal(await verifies(second), true, 'a mistyped address revokes nothing');
  await alice.locator('#confirm-address').fill(MAILBOX);
  await step(alice, 'revoke-all');
  await alice.locator('#revoke-all-confirm').click();
  await alice.locator('#devices tbody tr', { hasText: 'shop website' }).filter({ hasText: 'Revoked' }).waitFor();
  assert.equal(await verifies(second), false, 'revoke all stops every password');
  assert.equal(await verifies(enrolled), false, 'revoke all stops the enrolled device too');

  await alice.getByRole('link', { name: 'Audit' }).click();
  await alice.locator('table').waitFor();
  await step(alice, 'audit');

  // Sign-out forgets the token.
  await alice.getByRole('button', { name: 'Sign out' }).click();
  await alice.locator('#sub').waitFor();
  await clean(alice, 'signed out');
});

test('domain policies', async () => {
  const DOMAIN = 'example.net';
  const BOB = `bob@${DOMAIN}`;
  const admin = await token('admin-2', [`domain-admin:${DOMAIN}`]);
  assert.equal((await api('PUT', `/v1/mailboxes/${BOB}`, admin, { owner: 'bob' })).status, 201);
  // A device made before the policy: it keeps working and is listed as
  // breaking the rules that come after it.
  const old = await api('POST', `/v1/mailboxes/${BOB}/devices`, admin, { name: 'old desktop', scopes: ['imap'] });
  assert.equal(old.status, 201, JSON.stringify(old.json?.type));
  remember(old.json.password);

  // The Policy page, with the keyboard only, and a login too old to save.
  const adm = await open();
  await signIn(adm, 'admin-2', { groups: `domain-admin:${DOMAIN}`, ageMinutes: 10 });
  await adm.getByRole('link', { name: DOMAIN }).waitFor();
  await tabTo(adm, `a[href="#/d/${DOMAIN}"]`);
  await adm.keyboard.press('Enter');
  await adm.locator('#policy-link').waitFor();
  await tabTo(adm, '#policy-link');
  await adm.keyboard.press('Enter');
  await adm.locator('#policy-form').waitFor();
  await adm.locator('#compliance').filter({ hasText: /every device follows/i }).waitFor();
  assert.match(await adm.locator('#pol-maxLifetime-help').textContent(), /Default: 8760h/, 'the default is shown');
  assert.equal(await adm.locator('#pol-maxLifetime').inputValue(), '8760h');
  await step(adm, 'policy', { fullPage: true });

  for (const s of ['imap', 'pop', 'caldav', 'carddav']) {
    await tabTo(adm, `input[name=pol-allowedScopes][value=${s}]`);
    await adm.keyboard.press('Space');
  }
  await tabTo(adm, '#pol-requireExpiry');
  await adm.keyboard.press('Space');
  await tabTo(adm, '#pol-maxLifetime');
  await adm.keyboard.press('Control+A');
  await adm.keyboard.type('720h');
  await tabTo(adm, '#policy-save');
  await adm.keyboard.press('Enter');
  // The API asks for a fresh login; after it the same save goes on.
  await adm.locator('#signin-again').waitFor();
  await step(adm, 'policy-fresh-login');
  await tabTo(adm, '#signin-again');
  await adm.keyboard.press('Enter');
  await adm.locator('#policy-status').filter({ hasText: 'Policy saved.' }).waitFor();
  const stored = await api('GET', `/v1/domains/${DOMAIN}/policy`, admin);
  assert.deepEqual([stored.json.allowedScopes, stored.json.requireExpiry, stored.json.maxLifetime], [['smtp'], true, '720h'], 'the resumed save stored what was typed');
  assert.equal(stored.json.updatedBy, 'admin-2');

  // The device made before breaks two rules, each named.
  const row = adm.locator('#compliance tbody tr', { hasText: 'old desktop' });
  await row.waitFor();
  const rules = await row.textContent();
  assert.match(rules, /Every new device must expire/);
  assert.match(rules, /Allowed protocols/);
  await step(adm, 'policy-saved', { fullPage: true });

  // A 400 shows on the field it names, without the value typed.
  await tabTo(adm, '#pol-maxDevicesPerMailbox');
  await adm.keyboard.press('Control+A');
  await adm.keyboard.type('0');
  await tabTo(adm, '#policy-save');
  await adm.keyboard.press('Enter');
  const fieldError = adm.locator('#pol-maxDevicesPerMailbox-error');
  await fieldError.filter({ hasText: /between 1 and/ }).waitFor();
  assert.equal(await adm.locator('#pol-maxDevicesPerMailbox').getAttribute('aria-invalid'), 'true');
  assert.equal(await adm.evaluate(() => document.activeElement?.id), 'pol-maxDevicesPerMailbox', 'the field at fault has the focus');
  assert.equal(await adm.locator('#policy-error').textContent(), '', 'the message is on the field, not at the foot of the form');
  await step(adm, 'policy-invalid');
  await adm.locator('#pol-maxDevicesPerMailbox').fill('many');
  await adm.locator('#policy-save').click();
  await fieldError.filter({ hasText: /whole number/ }).waitFor();

  // The enrollment links of the domain's mailboxes follow it too.
  await adm.goto(`${URL_}/#/m/${encodeURIComponent(BOB)}/links`);
  await adm.locator('#link-valid').waitFor();
  const lifetimes = await adm.locator('#link-valid option').evaluateAll((es) => es.map((e) => e.value));
  assert.deepEqual(lifetimes, ['24h', '168h', '720h'], 'an enrollment link offers no device without expiry');

  // Add a device under that policy: SMTP only, an expiry required and at
  // most 30 days.
  const bob = await open();
  await signIn(bob, 'bob');
  await bob.getByRole('link', { name: BOB }).click();
  await bob.locator('#devices tbody tr', { hasText: 'old desktop' }).waitFor();
  await bob.locator('#add-device').click();
  await bob.locator('#add-form').waitFor();
  const scopes = await bob.locator('input[name=scope]').evaluateAll((es) => es.map((e) => [e.value, e.checked]));
  assert.deepEqual(scopes, [['smtp', true]], 'only the allowed scope is offered');
  const presets = await bob.locator('input[name=expiry]').evaluateAll((es) => es.map((e) => e.value));
  assert.deepEqual(presets, ['24h', '168h', '720h', 'date'], 'no "never", nothing beyond 30 days');
  assert.ok(await bob.locator('input[name=expiry][value="24h"]').isChecked(), 'an expiry is preselected');
  assert.match(await bob.locator('#expiry-help').textContent(), /at most 720h/);
  await bob.locator('#name').fill('shop mailer');
  await step(bob, 'add-device-policy');
  // "On a date" without the date is caught here, on the expiry.
  await bob.locator('input[name=expiry][value=date]').check();
  await bob.locator('#add-submit').click();
  await bob.locator('#expiry-error').filter({ hasText: /choose the date/i }).waitFor();
  await bob.locator('input[name=expiry][value="24h"]').check();

  // Meanwhile the policy comes to require an allow-list: the refusal shows
  // on that field.
  const tightened = await api('PUT', `/v1/domains/${DOMAIN}/policy`, admin,
    { allowedScopes: ['smtp'], requireExpiry: true, maxLifetime: '720h', requireAllowIps: true });
  assert.equal(tightened.status, 200);
  await bob.locator('#add-submit').click();
  await bob.locator('#allow-error').filter({ hasText: /allow-list/ }).waitFor();
  assert.equal(await bob.locator('#allow').getAttribute('aria-invalid'), 'true');
  await step(bob, 'add-device-refused');
  await bob.locator('#allow').fill('192.0.2.0/24');
  await bob.locator('#add-submit').click();
  await bob.locator('#password').waitFor();
  await readPassword(bob);
  await bob.locator('#saved').click();
  const made = bob.locator('#devices tbody tr', { hasText: 'shop mailer' });
  await made.waitFor();
  const text = await made.textContent();
  assert.match(text, /SMTP/);
  assert.doesNotMatch(text, /IMAP/);
  assert.match(text, /Expires (in 24 hours|tomorrow|in 1 day)/);

  // Without self-service, the owner is told whom to ask instead of a form.
  const closed = await api('PUT', `/v1/domains/${DOMAIN}/policy`, admin, { selfService: false });
  assert.equal(closed.status, 200);
  await bob.locator('#add-device').click();
  await bob.locator('#no-self-service').waitFor();
  assert.equal(await bob.locator('#add-form').count(), 0, 'no form the API would refuse');
  await step(bob, 'add-device-no-self-service');
  await bob.getByRole('button', { name: 'Close' }).click();
  await clean(bob, 'policy device');
  await clean(adm, 'policy page');
});
