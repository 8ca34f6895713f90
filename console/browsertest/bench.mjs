// Section 6 of `make bench`: how long the Devices tab of a mailbox with 50
// devices takes to be interactive in headless Chromium. Prints
// {"medianMs": n} on standard output.
import { chromium } from 'playwright-core';

const URL_ = process.env.CONSOLE_URL;
const RUNS = Number(process.env.RUNS || 5);
const MAILBOX = 'bench@example.com';

async function token(sub, groups = []) {
  const res = await fetch(`${URL_}/local/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ sub, groups }) });
  return (await res.json()).token;
}
async function api(method, path, tok, body) {
  const res = await fetch(URL_ + path, { method, headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status}`);
}

const admin = await token('bench-admin', ['domain-admin:example.com']);
await api('PUT', `/v1/mailboxes/${MAILBOX}`, admin, { owner: 'bench-owner' });
const owner = await token('bench-owner');
for (let i = 0; i < 50; i++) await api('POST', `/v1/mailboxes/${MAILBOX}/devices`, owner, { name: `device ${i}` });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM, headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const times = [];
try {
  for (let r = 0; r < RUNS; r++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${URL_}/`);
    await page.locator('#sub').fill('bench-owner');
    await page.getByRole('button', { name: /sign in/i }).click();
    await page.getByRole('link', { name: MAILBOX }).waitFor();
    const t0 = Date.now();
    await page.getByRole('link', { name: MAILBOX }).click();
    await page.locator('#devices tbody tr').nth(49).waitFor();
    await page.locator('#add-device:enabled').waitFor();
    times.push(Date.now() - t0);
    await ctx.close();
  }
} finally {
  await browser.close();
}
times.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ medianMs: times[Math.floor(times.length / 2)], runs: times }));
