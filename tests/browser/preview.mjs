// The writer's loop in headless Chromium: `broadsheet preview` on a copy of
// the sample publication, a column page and an article open in the
// browser, the article edited on disk, and the open pages showing the edit
// by themselves, with no reload from the test; a broken file shows its
// error on the page, and the fix brings the page back. The real output
// folder and the state are never made.
//
//   node tests/browser/preview.mjs target/debug/broadsheet
//
// Arguments and environment:
//   $1 or BROADSHEET_BIN   the broadsheet binary (required)
//   CHROMIUM=PATH          the browser (default /usr/bin/chromium)
//   SCREENSHOT_DIR=DIR     where the screenshots go (default: a folder in
//                          the temporary publication, printed at the end)
//
// Nothing leaves this machine: the preview listens on 127.0.0.1 and the
// browser may load nothing but it. Exits non-zero, saying what was expected
// and what was found, when any check fails.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = resolve(process.argv[2] ?? process.env.BROADSHEET_BIN ?? '');
if (!process.argv[2] && !process.env.BROADSHEET_BIN) {
  console.error('usage: node tests/browser/preview.mjs PATH-TO-BROADSHEET-BINARY');
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
// Every wait is bounded: a rebuild shows within about a second.
const PATIENCE_MS = 20000;
const NOW = '2026-11-30T09:00:00+08:00';

const WORK = mkdtempSync(join(tmpdir(), 'broadsheet-preview-'));
const PUB = join(WORK, 'pub');
const SHOTS = resolve(process.env.SCREENSHOT_DIR ?? join(WORK, 'screenshots'));
mkdirSync(PUB, { recursive: true });
mkdirSync(SHOTS, { recursive: true });
cpSync(join(ROOT, 'config.toml'), join(PUB, 'config.toml'));
cpSync(join(ROOT, 'content'), join(PUB, 'content'), { recursive: true });
if (existsSync(join(ROOT, 'templates'))) cpSync(join(ROOT, 'templates'), join(PUB, 'templates'), { recursive: true });

let stage = 0;
const step = (what) => console.log(`\n[${++stage}] ${what}`);
const ok = (what) => console.log(`    ok: ${what}`);
const fail = (msg) => { throw new Error(msg); };
const expect = (cond, msg) => { if (!cond) fail(msg); };

// --- the preview -----------------------------------------------------------

// Only what is set here reaches broadsheet.
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BROADSHEET_')));
childEnv.BROADSHEET_LOG = 'info';
const preview = spawn(BIN, ['--config', join(PUB, 'config.toml'), '--now', NOW, 'preview', '--bind', '127.0.0.1:0'],
  { cwd: PUB, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
let stderr = '';
preview.stderr.on('data', (d) => { stderr += d; });
const exited = new Promise((res) => preview.on('exit', (code, signal) => res({ code, signal })));

const withTimeout = (promise, ms, what) => Promise.race([
  promise,
  new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: nothing within ${ms} ms`)), ms)),
]);

let context;
let status = 0;
try {
  step('broadsheet preview starts on 127.0.0.1');
  const base = await withTimeout(new Promise((res, rej) => {
    let out = '';
    preview.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^preview: (http:\/\/127\.0\.0\.1:\d+)\//m);
      if (m) res(m[1]);
    });
    preview.on('exit', (code) => rej(new Error(`preview exited (${code}) before saying its address; stderr:\n${stderr}`)));
  }), PATIENCE_MS, 'the preview\'s address');
  ok(`listening at ${base}`);

  const profile = join(WORK, 'profile');
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    locale: 'zh-HK',
    viewport: { width: 1000, height: 800 },
  });
  const origin = new URL(base).origin;
  const offsite = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    let o = null;
    try { o = new URL(url).origin; } catch { /* data: and the like */ }
    if (o === origin || url.startsWith('data:')) return route.continue();
    offsite.push(url);
    return route.abort();
  });
  const page = context.pages()[0] ?? await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  const ARTICLE = join(PUB, 'content/city-notes/tram-slow-city.md');
  const original = readFileSync(ARTICLE, 'utf8');
  const TITLE = '電車叮叮聲中的慢活提案';
  expect(original.includes(`title = "${TITLE}"`), `expected ${ARTICLE} to be titled ${TITLE}`);

  step('the column page shows the article');
  await page.goto(`${base}/feeds/city-notes/`);
  await page.getByRole('link', { name: TITLE }).waitFor({ timeout: PATIENCE_MS });
  await page.screenshot({ path: join(SHOTS, 'preview-1-column.png'), fullPage: true });
  ok(`"${TITLE}" is listed`);

  step('an edit on disk shows on the open column page by itself');
  // A reload by the page itself forgets this; the test never reloads.
  await page.evaluate(() => { window.__beforeEdit = true; });
  const NEW_TITLE = '電車慢活：一個修改過的標題';
  writeFileSync(ARTICLE, original.replace(`title = "${TITLE}"`, `title = "${NEW_TITLE}"`));
  await page.getByRole('link', { name: NEW_TITLE }).waitFor({ timeout: PATIENCE_MS });
  expect(await page.evaluate(() => window.__beforeEdit === undefined), 'expected the page to have reloaded itself');
  expect(await page.getByRole('link', { name: TITLE }).count() === 0, `the old title "${TITLE}" is still shown`);
  await page.screenshot({ path: join(SHOTS, 'preview-2-column-edited.png'), fullPage: true });
  ok(`the page shows "${NEW_TITLE}" without a reload from the test`);

  step('the article page shows the body and the byline, and an edit to the body');
  await page.getByRole('link', { name: NEW_TITLE }).click();
  await page.getByRole('heading', { level: 1, name: NEW_TITLE }).waitFor({ timeout: PATIENCE_MS });
  expect(new URL(page.url()).origin === origin, `the article link left the preview: ${page.url()}`);
  const meta = await page.locator('.meta').first().innerText();
  expect(meta.includes('鄺嘉欣'), `expected the byline 鄺嘉欣 in "${meta}"`);
  expect(await page.getByRole('heading', { level: 2, name: '不只是交通工具' }).count() === 1, 'expected the section head 不只是交通工具');
  const ADDED = '這一段是預覽時加上的。';
  writeFileSync(ARTICLE, readFileSync(ARTICLE, 'utf8') + `\n${ADDED}\n`);
  await page.getByText(ADDED).waitFor({ timeout: PATIENCE_MS });
  await page.screenshot({ path: join(SHOTS, 'preview-3-article.png'), fullPage: true });
  ok('the new paragraph appeared');

  step('a broken front matter shows its error on the page, and the fix brings the page back');
  const edited = readFileSync(ARTICLE, 'utf8');
  writeFileSync(ARTICLE, edited.replace('published =', 'publised ='));
  await page.getByText('建置失敗').waitFor({ timeout: PATIENCE_MS });
  const error = await page.locator('#preview-error').innerText();
  expect(error.includes('content/city-notes/tram-slow-city.md:') && error.includes('publised'),
    `expected the error to name the file and the field, found:\n${error}`);
  await page.screenshot({ path: join(SHOTS, 'preview-4-error.png'), fullPage: true });
  writeFileSync(ARTICLE, edited);
  await page.getByRole('heading', { level: 1, name: NEW_TITLE }).waitFor({ timeout: PATIENCE_MS });
  ok('error shown, then the article again');

  expect(pageErrors.length === 0, `script errors on the pages: ${pageErrors.join('; ')}`);
  expect(offsite.length === 0, `the pages tried to load from elsewhere: ${offsite.join(', ')}`);

  step('SIGTERM stops the preview; it wrote no output folder and no state');
  await context.close();
  context = undefined;
  preview.kill('SIGTERM');
  const { code, signal } = await withTimeout(exited, PATIENCE_MS, 'the preview\'s exit');
  expect(code === 0, `expected exit 0 after SIGTERM, found ${code} (signal ${signal}); stderr:\n${stderr}`);
  for (const made of ['feeds', 'broadsheet.db']) {
    expect(!existsSync(join(PUB, made)), `the preview made ${made} in the publication`);
  }
  ok('exit 0; no feeds/, no broadsheet.db');
} catch (e) {
  status = 1;
  console.error(`\npreview browser test: FAILED at step ${stage}: ${e.message}`);
  console.error(`the preview's stderr (last 20 lines):\n${stderr.split('\n').slice(-20).join('\n')}`);
} finally {
  if (context) await context.close().catch(() => {});
  if (preview.exitCode === null) preview.kill('SIGKILL');
}

console.log(`screenshots: ${SHOTS}`);
if (status === 0) {
  if (!process.env.SCREENSHOT_DIR) console.log(`(kept in ${WORK})`);
  else rmSync(WORK, { recursive: true, force: true });
  console.log('preview browser test: passed');
} else {
  console.error(`the temporary folder is kept: ${WORK}`);
}
process.exit(status);
