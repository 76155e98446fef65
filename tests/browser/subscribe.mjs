// A reader's whole round trip through `broadsheet serve`, in headless
// Chromium: subscribe on the form for one column, confirm from the emailed
// link, choose every column on the preferences page, receive a digest,
// unsubscribe from its List-Unsubscribe link; then the pages beside
// the feeds, and a second sign-up from a column's page. Run by run.sh, which
// starts the server and sets:
//
//   BASE_URL                the server, http://127.0.0.1:PORT
//   BROADSHEET_BIN          the binary (for `digest send --force`)
//   BROADSHEET_CONFIG_PATH  the publication's config.toml
//   BROADSHEET_NOW          the --now of every command
//   STATE_DB                the SQLite state the server writes
//   OUTBOX_DIR              where the emails land as .eml files
//   SCREENSHOT_DIR          where the screenshots go
//   COLUMN                  the column slug the reader ticks
//   CHROMIUM                the browser executable
//
// Every check that fails throws with what was expected and what was found.

import { chromium } from 'playwright-core';
import { simpleParser } from 'mailparser';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') throw new Error(`the environment variable ${name} is not set`);
  return v;
};
const BASE_URL = env('BASE_URL').replace(/\/+$/, '');
const BIN = env('BROADSHEET_BIN');
const CONFIG = env('BROADSHEET_CONFIG_PATH');
const NOW = env('BROADSHEET_NOW');
const STATE_DB = env('STATE_DB');
const OUTBOX = env('OUTBOX_DIR');
const SHOTS = env('SCREENSHOT_DIR');
const COLUMN = env('COLUMN', 'city-notes');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

const EMAIL = 'browser-reader@example.com';
const NAME = '鄭麗華';
const TOKEN_RE = '[A-Za-z0-9_.-]+';
const BASE_ORIGIN = new URL(BASE_URL).origin;

let stage = 0;
let stageName = '';
const step = (what) => {
  stageName = what;
  console.log(`\n[${++stage}] ${what}`);
};
const ok = (what) => console.log(`    ok: ${what}`);
class CheckFailed extends Error {}
const fail = (msg) => { throw new CheckFailed(msg); };
const expect = (cond, msg) => { if (!cond) fail(msg); };

// --- the state and the outbox ---------------------------------------------

function sql(query) {
  const r = spawnSync('sqlite3', ['-readonly', '-batch', '-noheader', '-separator', '\t',
    '-cmd', '.timeout 5000', STATE_DB, query], { encoding: 'utf8' });
  if (r.error) fail(`cannot run sqlite3: ${r.error.message}`);
  if (r.status !== 0) fail(`sqlite3 ${STATE_DB} "${query}" failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout.replace(/\n$/, '');
}

function subscriberRow() {
  const q = `SELECT status, name, columns FROM subscribers WHERE email_key = '${EMAIL.replace(/'/g, "''")}'`;
  const out = sql(q);
  if (out === '') return null;
  const rows = out.split('\n');
  expect(rows.length === 1, `expected one subscriber row for ${EMAIL}, found ${rows.length}:\n${out}`);
  const [status, name, columns] = rows[0].split('\t');
  return { status, name, columns };
}

function expectStatus(want, when) {
  const row = subscriberRow();
  expect(row !== null, `${when}: expected ${EMAIL} in the subscribers table with status ${want}, but there is no such row`);
  expect(row.status === want, `${when}: expected ${EMAIL} to have status ${want}, found ${row.status}`);
  ok(`${when}: the state says ${EMAIL} is ${want}`);
  return row;
}

// Every .eml in the outbox addressed to EMAIL, parsed, newest first.
async function mailsTo(address) {
  let names;
  try {
    names = readdirSync(OUTBOX).filter((n) => n.endsWith('.eml'));
  } catch (e) {
    fail(`cannot read the outbox ${OUTBOX}: ${e.message}`);
  }
  const out = [];
  for (const n of names) {
    const path = join(OUTBOX, n);
    const raw = readFileSync(path);
    const parsed = await simpleParser(raw);
    const to = (parsed.to?.value ?? []).map((a) => (a.address ?? '').toLowerCase());
    if (to.includes(address.toLowerCase())) out.push({ path, mtime: statSync(path).mtimeMs, parsed });
  }
  out.sort((a, b) => b.mtime - a.mtime || b.path.localeCompare(a.path));
  return out;
}

// Waits for an email to `address` that `pick` accepts: the server may send
// from a queue after it has answered.
async function waitForMail(address, pick, what, timeoutMs = 15000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = (await mailsTo(address)).filter((m) => pick(m.parsed));
    if (found.length > 0) return found[0];
    if (Date.now() > until) fail(`expected ${what} to ${address} in ${OUTBOX} within ${timeoutMs / 1000} s; found none`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function rawHeader(parsed, name) {
  const line = parsed.headerLines.find((h) => h.key === name.toLowerCase());
  if (!line) return null;
  // "Key: value", unfolded.
  return line.line.replace(/\r?\n[ \t]+/g, ' ').replace(/^[^:]*:\s*/, '');
}

// --- the browser ------------------------------------------------------------

const profile = mkdtempSync(join(tmpdir(), 'broadsheet-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  locale: 'zh-HK',
  viewport: { width: 1000, height: 800 },
});

// The pages may load nothing but the server under test.
const offsite = [];
await context.route('**/*', (route) => {
  const url = route.request().url();
  let origin = null;
  try { origin = new URL(url).origin; } catch { /* data: and the like */ }
  if (origin === BASE_ORIGIN || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
  offsite.push(url);
  return route.abort();
});

const page = context.pages()[0] ?? await context.newPage();
const pageErrors = [];
// The response headers of the document now shown.
let lastDocumentHeaders = {};
page.on('response', async (r) => {
  if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) {
    lastDocumentHeaders = await r.allHeaders().catch(() => ({}));
  }
});
page.on('pageerror', (e) => pageErrors.push(e.message));
page.on('console', (m) => { if (m.type() === 'error') console.log(`    console error: ${m.text()}`); });

async function shot(name) {
  const path = join(SHOTS, `${String(stage).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`    screenshot: ${path}`);
}

async function open(url, what) {
  const resp = await page.goto(url, { waitUntil: 'load' });
  expect(resp, `${what}: no response from ${url}`);
  expect(resp.status() === 200, `${what}: expected GET ${url} to answer 200, got ${resp.status()}`);
  ok(`${what}: GET ${new URL(url).pathname} answered 200`);
  return resp;
}

// Clicks the submit button of `form` and waits for the page it leads to. The
// form must be sent with POST; a redirect after it is fine if it ends in 200.
async function submit(formSelector, what) {
  const form = page.locator(formSelector);
  expect(await form.count() === 1, `${what}: expected one ${formSelector} on ${page.url()}, found ${await form.count()}`);
  const method = ((await form.getAttribute('method')) ?? 'get').toLowerCase();
  expect(method === 'post', `${what}: expected ${formSelector} to have method="post", found ${JSON.stringify(method)}`);
  const formReferrerPolicy = lastDocumentHeaders['referrer-policy'];
  const button = form.locator('button[type=submit], button:not([type]), input[type=submit]');
  expect(await button.count() >= 1, `${what}: ${formSelector} has no submit button`);
  const [nav] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    button.first().click(),
  ]);
  expect(nav, `${what}: submitting ${formSelector} led to no page`);
  let first = nav.request();
  while (first.redirectedFrom()) first = first.redirectedFrom();
  expect(first.method() === 'POST', `${what}: expected the form to be sent with POST, it was sent with ${first.method()}`);
  if (nav.status() !== 200) {
    const sent = await first.allHeaders();
    fail(`${what}: expected the page after POST ${new URL(first.url()).pathname} to answer 200, got ${nav.status()}` +
      ` (the browser sent Origin: ${sent.origin ?? '(none)'};` +
      ` the page it was sent from had Referrer-Policy: ${formReferrerPolicy ?? '(none)'})`);
  }
  ok(`${what}: POST ${new URL(first.url()).pathname} answered ${nav.status()}${first !== nav.request() ? ' (after a redirect)' : ''}`);
  return nav;
}

// Runs in the page: how `el` is kept from a person's eyes (not displayed,
// invisible, transparent, off the page, or clipped to a pixel or less), or
// null when a person can see it.
function hiddenFromPeople(el) {
  if (el.type === 'hidden') return 'type=hidden';
  if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) return 'not displayed';
  const r = el.getBoundingClientRect();
  let [left, top, right, bottom] = [r.left, r.top, r.right, r.bottom];
  for (let a = el.parentElement; a; a = a.parentElement) {
    const st = getComputedStyle(a);
    if (st.overflowX !== 'visible' || st.overflowY !== 'visible') {
      const c = a.getBoundingClientRect();
      [left, top, right, bottom] = [Math.max(left, c.left), Math.max(top, c.top), Math.min(right, c.right), Math.min(bottom, c.bottom)];
    }
  }
  if (right + window.scrollX <= 0 || bottom + window.scrollY <= 0) return 'off the page';
  if (Math.max(0, right - left) * Math.max(0, bottom - top) <= 1) return 'clipped';
  return null;
}

let failed = null;
try {
  // 1. The subscribe page.
  step(`open the subscribe page ${BASE_URL}/`);
  await open(`${BASE_URL}/`, 'subscribe page');
  const form = page.locator('form#subscribe');
  expect(await form.count() === 1, `expected <form id="subscribe"> on /, found ${await form.count()}`);
  for (const sel of ['input[name=email]', 'input[name=name]', 'input[name=website]']) {
    expect(await form.locator(sel).count() === 1, `expected one ${sel} in form#subscribe, found ${await form.locator(sel).count()}`);
  }
  const honeypot = form.locator('input[name=website]');
  const hiddenBy = await honeypot.evaluate(hiddenFromPeople);
  expect(hiddenBy, 'the honeypot input[name=website] is on show; a person would fill it in');
  const boxes = form.locator('input[type=checkbox][name=columns]');
  const slugs = await boxes.evaluateAll((els) => els.map((e) => e.value));
  expect(slugs.includes(COLUMN), `expected a checkbox input[name=columns][value=${COLUMN}]; the form offers ${JSON.stringify(slugs)}`);
  ok(`the form has email, name, a honeypot (hidden: ${hiddenBy}) and the columns ${slugs.join(', ')}`);

  // "Every column" is a choice of its own, chosen at first; the boxes
  // count only with "only these", and are out of sight until it is chosen.
  const everyColumn = form.locator('input[type=radio][name=scope][value=all]');
  const onlyThese = form.locator('input[type=radio][name=scope][value=some]');
  expect(await everyColumn.count() === 1 && await onlyThese.count() === 1,
    'expected the radio pair input[name=scope] "all" / "some" in form#subscribe');
  expect(await everyColumn.isChecked(), 'expected "every column" (scope=all) to be chosen when the form opens');
  expect(!(await boxes.first().isVisible()), 'expected the column boxes out of sight while "every column" is chosen');
  ok('"every column" is chosen at first, and the boxes are out of sight');

  step(`subscribe ${EMAIL} as ${NAME}, following only ${COLUMN}`);
  await form.locator('input[name=email]').fill(EMAIL);
  await form.locator('input[name=name]').fill(NAME);
  await onlyThese.check();
  expect(await boxes.first().isVisible(), 'expected the column boxes to show once "only these" is chosen');
  for (const s of slugs) {
    const box = form.locator(`input[type=checkbox][name=columns][value="${s}"]`);
    if (s === COLUMN) await box.check(); else await box.uncheck();
  }
  expect(await honeypot.inputValue() === '', 'the honeypot input[name=website] is not empty before submitting');
  await shot('subscribe-form');
  await submit('form#subscribe', 'subscribe');
  const bodyText = await page.locator('body').innerText();
  expect(bodyText.trim().length > 0, 'the page after subscribing is empty');
  await shot('subscribed');
  // What the form chose waits with this sign-up until its link is
  // confirmed: the pending row itself holds no name and no columns.
  const row = expectStatus('pending', 'after subscribing');
  expect(row.name === '' && row.columns === '',
    `expected the pending row to hold no name or columns yet, found ${JSON.stringify(row)}`);
  ok('the state holds a pending row; the name and column wait for the confirmation');

  // 2. The confirmation email.
  step('read the confirmation email in the outbox');
  const confirmMail = await waitForMail(EMAIL,
    (p) => new RegExp(`/confirm\\?token=${TOKEN_RE}`).test(p.text ?? ''),
    `an .eml whose text part has a ${BASE_URL}/confirm?token=... link`);
  const confirmMatch = (confirmMail.parsed.text ?? '').match(new RegExp(`(\\S*/confirm\\?token=${TOKEN_RE})`));
  const confirmUrl = confirmMatch[1].replace(/^[<(]/, '');
  expect(confirmUrl.startsWith(`${BASE_URL}/confirm?token=`),
    `expected the confirm link to start with ${BASE_URL}/confirm?token=, found ${confirmUrl}`);
  ok(`${confirmMail.path}: subject ${JSON.stringify(confirmMail.parsed.subject)}, link ${confirmUrl}`);

  // 3. Confirm.
  step('open the confirm link');
  await open(confirmUrl, 'confirm page');
  expect(await page.locator('form#confirm').count() === 1, `expected <form id="confirm"> on ${confirmUrl}`);
  expect(await page.locator('form#confirm input[name=token]').count() === 1,
    'expected a hidden input[name=token] in form#confirm');
  await shot('confirm-page');
  const confirmText = await page.locator('body').innerText();
  expect(confirmText.includes(NAME), `expected the confirm page to show the name ${JSON.stringify(NAME)} it applies`);
  expectStatus('pending', 'after GET /confirm (only the POST may confirm)');

  step('press the confirm button');
  await submit('form#confirm', 'confirm');
  await shot('confirmed');
  const confirmed = expectStatus('active', 'after POST /confirm');
  expect(confirmed.name === NAME, `expected the stored name ${JSON.stringify(NAME)}, found ${JSON.stringify(confirmed.name)}`);
  expect(confirmed.columns === COLUMN, `expected the stored columns ${JSON.stringify(COLUMN)}, found ${JSON.stringify(confirmed.columns)}`);
  ok(`confirming applied the name ${confirmed.name} and the column ${confirmed.columns}`);

  // 3b. The preferences page, from the confirmed page's link: it names the
  // address, shows the one column, and "every column" can be chosen.
  step('open the preferences from the confirmed page, and choose every column');
  const prefsHref = await page.locator('a[href^="preferences?token="]').first().getAttribute('href');
  expect(prefsHref, 'expected a link to preferences?token=... on the page after confirming');
  await open(new URL(prefsHref, page.url()).href, 'preferences page');
  const prefs = page.locator('form#preferences');
  expect((await page.locator('body').innerText()).includes(EMAIL), `expected the preferences page to name ${EMAIL}`);
  const prefsEvery = prefs.locator('input[type=radio][name=scope][value=all]');
  expect(await prefs.locator('input[type=radio][name=scope][value=some]').isChecked(),
    `expected "only these" to be chosen for a reader of ${COLUMN} alone`);
  expect(await prefs.locator(`input[type=checkbox][name=columns][value="${COLUMN}"]`).isChecked(),
    `expected the box of ${COLUMN} ticked`);
  await prefsEvery.check();
  await shot('preferences-every-column');
  await submit('form#preferences', 'save every column');
  const every = expectStatus('active', 'after choosing every column');
  expect(every.columns === '', `expected every column to be stored as no columns, found ${JSON.stringify(every.columns)}`);
  expect(await page.locator('form#preferences input[type=radio][name=scope][value=all]').isChecked(),
    'expected the saved page to show "every column" chosen');
  ok('every column is stored as all columns, and the page shows it chosen');

  // 4. A digest.
  step(`send a digest: broadsheet --now ${NOW} digest send --force`);
  const send = spawnSync(BIN, ['--config', CONFIG, '--now', NOW, 'digest', 'send', '--force'],
    { encoding: 'utf8', env: process.env });
  const sendOutput = `${send.stdout ?? ''}${send.stderr ?? ''}`.trim();
  if (sendOutput) console.log(sendOutput.replace(/^/gm, '    | '));
  expect(!send.error, `cannot run ${BIN}: ${send.error?.message}`);
  expect(send.status === 0, `digest send --force exited with ${send.status}`);
  expect(!/database is locked/i.test(sendOutput), 'digest send reported "database is locked"');

  const digest = await waitForMail(EMAIL, (p) => rawHeader(p, 'List-Unsubscribe') !== null,
    'a digest .eml with a List-Unsubscribe header', 2000);
  const listUnsubscribe = rawHeader(digest.parsed, 'List-Unsubscribe');
  expect(!listUnsubscribe.includes('=?'),
    `List-Unsubscribe is RFC 2047-encoded, which mail clients do not decode there (RFC 2369 wants the <URL>s as they are): ${listUnsubscribe}`);
  const httpLinks = [...listUnsubscribe.matchAll(/<(https?:[^>]+)>/g)].map((m) => m[1]);
  expect(httpLinks.length === 1, `expected one http(s) URL in List-Unsubscribe, found: ${listUnsubscribe}`);
  expect(/<mailto:[^>]+>/.test(listUnsubscribe), `expected a mailto: in List-Unsubscribe, found: ${listUnsubscribe}`);
  const unsubscribeUrl = httpLinks[0];
  expect(new RegExp(`^${BASE_URL.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/unsubscribe\\?token=${TOKEN_RE}$`).test(unsubscribeUrl),
    `expected the List-Unsubscribe URL to be ${BASE_URL}/unsubscribe?token=<token>, found ${unsubscribeUrl}`);
  const post = rawHeader(digest.parsed, 'List-Unsubscribe-Post');
  expect(post === 'List-Unsubscribe=One-Click', `expected List-Unsubscribe-Post: List-Unsubscribe=One-Click, found ${JSON.stringify(post)}`);
  const inText = (digest.parsed.text ?? '').includes(unsubscribeUrl);
  const inHtml = (digest.parsed.html || '').includes(unsubscribeUrl);
  expect(inText || inHtml, `expected the digest's body to carry the List-Unsubscribe link ${unsubscribeUrl}; it does not`);
  ok(`${digest.path}: List-Unsubscribe ${unsubscribeUrl}; the same link is in the ${[inText && 'text', inHtml && 'HTML'].filter(Boolean).join(' and ')} part`);

  // 5. Unsubscribe.
  step('open the unsubscribe link');
  await open(unsubscribeUrl, 'unsubscribe page');
  expect(await page.locator('form#unsubscribe').count() === 1, `expected <form id="unsubscribe"> on ${unsubscribeUrl}`);
  expect((await page.locator('body').innerText()).includes(EMAIL), `expected the unsubscribe page to name ${EMAIL}`);
  expect(await page.locator('a[href^="preferences?token="]').count() === 1,
    'expected the unsubscribe page to offer fewer columns instead (a preferences?token=... link)');
  await shot('unsubscribe-page');
  expectStatus('active', 'after GET /unsubscribe (only the POST may unsubscribe)');

  step('press the unsubscribe button');
  await submit('form#unsubscribe', 'unsubscribe');
  await shot('unsubscribed');
  expectStatus('unsubscribed', 'after POST /unsubscribe');

  step('RFC 8058 one-click POST with the same link (already unsubscribed)');
  const oneClick = await fetch(unsubscribeUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'List-Unsubscribe=One-Click',
    redirect: 'manual',
  });
  expect(oneClick.status === 200, `expected POST ${new URL(unsubscribeUrl).pathname} with List-Unsubscribe=One-Click to answer 200, got ${oneClick.status}`);
  ok('one-click unsubscribe answered 200');
  expectStatus('unsubscribed', 'after the one-click POST');

  // 6. A column's feed through the server.
  step(`fetch ${BASE_URL}/feeds/${COLUMN}/atom.xml, then again with If-None-Match`);
  const feedUrl = `${BASE_URL}/feeds/${COLUMN}/atom.xml`;
  const feed = await fetch(feedUrl);
  expect(feed.status === 200, `expected GET ${feedUrl} to answer 200, got ${feed.status}`);
  const feedBody = await feed.text();
  expect(feedBody.includes('<feed'), `expected an Atom document from ${feedUrl}`);
  const etag = feed.headers.get('etag');
  expect(etag, `expected an ETag header on ${feedUrl}`);
  expect(feed.headers.get('last-modified'), `expected a Last-Modified header on ${feedUrl}`);
  const again = await fetch(feedUrl, { headers: { 'if-none-match': etag } });
  expect(again.status === 304, `expected 304 for If-None-Match: ${etag}, got ${again.status}`);
  ok(`200 with ETag ${etag}, then 304`);
  try {
    await open(feedUrl, 'feed in the browser');
    await shot('feed');
  } catch (e) {
    // A browser may download an XML type rather than show it; the feed
    // itself was checked above.
    console.log(`    (the feed is not shown in the browser: ${e.message.split('\n')[0]})`);
  }

  // 7. The pages for people beside the feeds: the index of columns, then
  // a column's page, whose form signs a second reader up for that column.
  step(`open the feeds index ${BASE_URL}/feeds/`);
  await open(`${BASE_URL}/feeds/`, 'feeds index');
  const columnLinks = await page.locator('a[href]').evaluateAll((els) => els.map((e) => e.getAttribute('href')));
  expect(columnLinks.some((h) => h.endsWith(`/${COLUMN}/`)), `expected the index to link the page of ${COLUMN}; its links: ${JSON.stringify(columnLinks)}`);
  expect(columnLinks.some((h) => h.endsWith('/index.opml')), 'expected the index to link index.opml');
  await shot('feeds-index');

  step(`open the column page ${BASE_URL}/feeds/${COLUMN}/ and subscribe from it`);
  await open(`${BASE_URL}/feeds/${COLUMN}/`, 'column page');
  const alternates = await page.locator('head link[rel=alternate]').evaluateAll((els) => els.map((e) => [e.type, e.href]));
  for (const [type, file] of [['application/rss+xml', 'rss.xml'], ['application/atom+xml', 'atom.xml'], ['application/feed+json', 'feed.json']]) {
    expect(alternates.some(([t, h]) => t === type && h.endsWith(`/${COLUMN}/${file}`)),
      `expected <link rel="alternate" type="${type}"> to ${COLUMN}/${file} in the column page's head; found ${JSON.stringify(alternates)}`);
    expect(await page.locator(`main a[href$="/${COLUMN}/${file}"]`).count() >= 1, `expected a visible link to ${file} on the column page`);
  }
  expect(await page.locator('script').count() === 0, 'the column page must work without JavaScript, but it has a <script>');
  const columnForm = page.locator('form#subscribe');
  expect(await columnForm.getAttribute('action') === `${BASE_URL}/subscribe`,
    `expected the column page's form to post to ${BASE_URL}/subscribe, found ${await columnForm.getAttribute('action')}`);
  expect(await columnForm.locator(`input[type=hidden][name=columns][value="${COLUMN}"]`).count() === 1,
    `expected the column page's form to carry columns=${COLUMN}`);
  ok('the column page links its three feeds, in the head for discovery and on the page, and holds a subscribe form');
  await shot('column-page');
  const COLUMN_READER = 'column-reader@example.com';
  await columnForm.locator('input[name=email]').fill(COLUMN_READER);
  await submit('form#subscribe', 'subscribe from the column page');
  await shot('column-subscribed');
  // The column chosen waits with the sign-up request its link confirms.
  const columnRow = sql(`SELECT s.status, r.columns FROM subscribers s JOIN signup_requests r ON r.subscriber_id = s.id WHERE s.email_key = '${COLUMN_READER}'`);
  expect(columnRow === `pending\t${COLUMN}`, `after subscribing on the column page: expected ${COLUMN_READER} pending with a sign-up for ${COLUMN}, found ${JSON.stringify(columnRow)}`);
  ok(`the state says ${COLUMN_READER} is pending, its sign-up following ${COLUMN}`);

  expect(pageErrors.length === 0, `the pages threw: ${pageErrors.join('; ')}`);
  expect(offsite.length === 0, `the pages tried to load from elsewhere than ${BASE_ORIGIN}: ${offsite.join(', ')}`);
} catch (e) {
  failed = e;
  try { await shot('failure'); } catch { /* the browser may be gone */ }
} finally {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

if (failed) {
  const reason = failed instanceof CheckFailed ? failed.message : String(failed);
  console.error(`\nbrowser test failed at [${stage}] ${stageName}: ${reason}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
console.log(`\nall ${stage} stages passed`);
console.log('1 passed, 0 failed');
