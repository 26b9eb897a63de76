// The web app end to end: the real `rustygpt serve` (serving the app embedded
// in the binary) on stories260K, driven in Debian's Chromium through
// playwright-core. Sign up, chat with streamed tokens and their stats, stop a
// generation (the server stops generating), model output with <script>/<img
// onerror> shown as text, sign
// out and in again, the routes the app calls checked against /openapi.json,
// a screenshot of the chat page; prints first paint and bundle sizes as JSON.
//
// Env: RG_BIN (the binary), RG_TESTDATA, RG_BUILD_DIR (artifacts go to
// web-e2e/ there), CHROMIUM (default /usr/bin/chromium). Exit 77 = skipped
// (said why); RG_REQUIRE_BROWSER=1 turns a missing browser into a failure.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const skip = (why) => {
  console.error(`SKIP: ${why}`);
  process.exit(process.env.RG_REQUIRE_BROWSER === '1' && why.includes('Chromium') ? 1 : 77);
};
const exe = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(exe)) skip(`no Chromium at ${exe} (make deps with DEPS_EXTRA=web installs it)`);
const model = join(process.env.RG_TESTDATA || join(here, '../../../shared/testdata'), 'models/stories260K.gguf');
if (!existsSync(model)) skip(`${model} is absent`);
const bin = process.env.RG_BIN;
if (!bin || !existsSync(bin)) skip('RG_BIN is not set to the rustygpt binary');

const artifacts = join(process.env.RG_BUILD_DIR || tmpdir(), 'web-e2e');
mkdirSync(artifacts, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), 'rg-web-'));
mkdirSync(join(dir, 'models'));
symlinkSync(model, join(dir, 'models', 'stories260K.gguf'));

let step = 'start';
const check = (cond, what) => {
  if (!cond) throw new Error(`${step}: ${what}`);
};

// ---- the server ----
const server = spawn(bin, ['serve', '--port', '0', '--data-dir', join(dir, 'data'), '--models-dir', join(dir, 'models'), '--threads', '2'], {
  env: process.env,
  stdio: ['ignore', 'ignore', 'pipe'],
});
let log = '';
const base = await new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 15000);
  server.stderr.on('data', (d) => {
    log += d;
    const m = /listening on (http:\/\/[^\s]+)/.exec(log);
    if (m) {
      clearTimeout(t);
      resolve(m[1]);
    }
  });
  server.on('exit', (code) => reject(new Error(`server exited (${code}):\n${log}`)));
});

const browser = await chromium.launch({ executablePath: exe, headless: true, args: ['--no-sandbox'] });
let failed = false;
const results = {};
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));

  // ---- first visit: the sign-in page, and how fast it paints ----
  step = 'first paint';
  await page.goto(base + '/');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  results.first_contentful_paint_ms = await page.evaluate(
    () => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1,
  );
  const sizes = await page.evaluate(() =>
    performance.getEntriesByType('resource').map((r) => ({ name: r.name, bytes: r.encodedBodySize })),
  );
  results.assets_transfer_bytes = sizes.filter((s) => /\/assets\//.test(s.name)).reduce((a, s) => a + s.bytes, 0);

  // ---- sign up ----
  step = 'sign up';
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Name').fill('Web Tester');
  await page.getByLabel('Email').fill('web@example.com');
  await page.getByLabel('Password').fill('a good long password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  const picked = await page.getByLabel('Model').inputValue();
  check(picked === 'stories260K', `model picker shows ${picked}`);

  // ---- a message, streamed ----
  step = 'chat';
  const box = page.getByLabel('Message');
  await box.fill('Once upon a time');
  await box.press('Enter');
  const answer = page.locator('article[data-role="assistant"]').last();
  await answer.locator('.stats').waitFor({ timeout: 30000 });
  const text = (await answer.locator('.md').innerText()).trim();
  check(text.length > 0, 'the answer is empty');
  const stats = await answer.locator('.stats').innerText();
  check(/\d+ tokens · [\d.]+ tok\/s/.test(stats), `stats "${stats}"`);
  check(await box.isEnabled(), 'the message box stays disabled');
  check((await page.locator('article[data-role="user"]').first().innerText()).includes('Once upon a time'), 'user message');
  // Shift+Enter is a new line, not a send
  await box.fill('line one');
  await box.press('Shift+Enter');
  await box.type('line two');
  check((await box.inputValue()) === 'line one\nline two', 'Shift+Enter');
  check((await page.locator('article').count()) === 2, 'Shift+Enter sent the message');
  await box.fill('');

  // ---- stop: a real generation made long (2,000 tokens, end-of-text
  // ignored: seconds of work), cancelled from the page once tokens flow ----
  step = 'stop';
  await page.route('**/v1/chat/completions', (route) => {
    const body = JSON.parse(route.request().postData() || '{}');
    return route.continue({ postData: JSON.stringify({ ...body, max_tokens: 2000, ignore_eos: true }) });
  });
  await box.fill('Tell me a very long story');
  await box.press('Enter');
  const stop = page.getByRole('button', { name: 'Stop' });
  await stop.waitFor();
  check(await box.isDisabled(), 'the message box is not disabled while sending');
  const long = page.locator('article[data-role="assistant"]').last();
  await page.waitForFunction((el) => el.innerText.trim().length > 0, await long.elementHandle());
  await stop.click();
  await long.locator('.stats', { hasText: 'stopped' }).waitFor();
  await page.getByRole('button', { name: 'Send' }).waitFor();
  await page.unroute('**/v1/chat/completions');
  // the server saw the client go: no stream left open
  let open = -1;
  for (let i = 0; i < 50 && open !== 0; i++) {
    open = (await (await fetch(base + '/status')).json()).streams_open;
    if (open !== 0) await new Promise((r) => setTimeout(r, 100));
  }
  check(open === 0, `streams still open on the server: ${open}`);
  const cut = [...log.matchAll(/engine request .*completion_tokens=(\d+)/g)].map((m) => Number(m[1]));
  check(cut.length >= 2 && cut[cut.length - 1] < 2000, `the stopped generation ran on: ${cut.join(',')}`);

  // ---- hostile model output is text ----
  step = 'xss';
  const evil = 'Look: <script>window.pwned=1</script> and <img src=x onerror="window.pwned=2"> [x](javascript:window.pwned=3)';
  const chunk = (c) => `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: c }, finish_reason: null }] })}\n\n`;
  await page.route('**/v1/chat/completions', (route) =>
    route.fulfill({
      status: 200,
      headers: { 'Content-Type': 'text/event-stream' },
      body: chunk(evil.slice(0, 20)) + chunk(evil.slice(20)) + 'data: {"choices":[],"usage":{"completion_tokens":9}}\n\ndata: [DONE]\n\n',
    }),
  );
  await box.fill('say something nasty');
  await box.press('Enter');
  const bad = page.locator('article[data-role="assistant"]').last();
  await bad.locator('.stats').waitFor();
  const shown = await bad.locator('.md').innerText();
  check(shown.includes('<script>window.pwned=1</script>') && shown.includes('<img src=x onerror='), `shown as "${shown}"`);
  check((await bad.locator('script, img, a[href^="javascript"]').count()) === 0, 'markup from the model became elements');
  check((await page.evaluate(() => window.pwned)) === undefined, 'model output ran as code');
  await page.unroute('**/v1/chat/completions');

  // ---- settings, theme, and the screenshot ----
  step = 'settings';
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByLabel('Max tokens').fill('64');
  await page.getByLabel('System prompt').fill('You are terse.');
  await page.getByRole('button', { name: /theme/ }).click();
  await page.screenshot({ path: join(artifacts, 'chat.png'), fullPage: true });
  await page.setViewportSize({ width: 375, height: 700 }); // a phone
  check(await page.getByRole('button', { name: 'Sign out' }).isVisible(), 'header fits a phone');
  await page.screenshot({ path: join(artifacts, 'chat-phone.png') });

  // ---- sign out, sign in again ----
  step = 'sign out';
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.reload(); // the session is gone from the cookie too
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  step = 'sign in';
  await page.getByLabel('Email').fill('web@example.com');
  await page.getByLabel('Password').fill('wrong password here');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'invalid email or password' }).waitFor();
  await page.getByLabel('Password').fill('a good long password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  // a reload keeps us signed in (refresh cookie → new access token)
  await page.reload();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();

  // ---- the app's routes exist in the server's API description ----
  step = 'openapi';
  const spec = await (await fetch(base + '/openapi.json')).json();
  const src = readFileSync(join(here, '../src/lib/api.ts'), 'utf8');
  const routes = [...src.matchAll(/\['(get|post|patch|delete)', '([^']+)'\]/g)].map((m) => [m[1], m[2]]);
  check(routes.length >= 6, 'ROUTES not found in api.ts');
  for (const [m, p] of routes) check(spec.paths?.[p]?.[m], `${m.toUpperCase()} ${p} is not in /openapi.json`);

  check(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
  console.log(JSON.stringify(results));
  console.error('web e2e: all steps passed');
} catch (e) {
  failed = true;
  console.error(`web e2e FAILED: ${e.stack || e}`);
  console.error(`server log:\n${log.slice(-4000)}`);
} finally {
  await browser.close();
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
