// The knowledge library in the web app, end to end: the real `rustygpt serve`
// (no embedding model: full-text search) on stories260K, in Debian's Chromium
// through playwright-core. Sign up (the admin); the Library page by deep link
// says what is missing; make a collection; upload an EPUB made here (a stored
// zip written by hand) with the file button, and a Markdown note and a broken
// EPUB by drag-and-drop; watch the EPUB index to ready and the broken one end
// in error with its reason; search a word of the book and see it marked (and
// the book's "<i>" shown as text, not markup); open the passage; a chat with
// that collection: ask, see Sources under the answer, open the cited
// passage; reload: the collection chip and the sources are kept; collections
// renamed, published, deleted; a watched folder added and removed; the dark
// theme. axe-core on every new page (no serious or critical violation);
// screenshots at desktop and phone sizes in <build>/web-e2e/.
//
// Env as e2e.mjs: RG_BIN, RG_TESTDATA, PGHOST (pg_virtualenv: PostgreSQL),
// RG_BUILD_DIR, CHROMIUM. Exit 77 = skipped (said why).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// ---- a small EPUB 3: a zip of stored (uncompressed) entries, by hand ----
const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
function storedZip(files) {
  const locals = [];
  const central = [];
  let offset = 0;
  for (const [name, text] of files) {
    const nm = Buffer.from(name, 'utf8');
    const data = Buffer.from(text, 'utf8');
    const crc = crc32(data);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4); // version needed
    h.writeUInt16LE(0x0800, 6); // UTF-8 names
    h.writeUInt16LE(0, 8); // stored
    h.writeUInt16LE(0, 10); // time
    h.writeUInt16LE(0x21, 12); // date: 1980-01-01
    h.writeUInt32LE(crc, 14);
    h.writeUInt32LE(data.length, 18);
    h.writeUInt32LE(data.length, 22);
    h.writeUInt16LE(nm.length, 26);
    h.writeUInt16LE(0, 28);
    locals.push(h, nm, data);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(0x0800, 8);
    c.writeUInt16LE(0, 10);
    c.writeUInt16LE(0, 12);
    c.writeUInt16LE(0x21, 14);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(data.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(nm.length, 28);
    c.writeUInt32LE(offset, 42);
    central.push(c, nm);
    offset += 30 + nm.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
const WORD = 'Quokkariver';
const chapter = (title, paras) =>
  `<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head><title>${title}</title></head><body><h1>${title}</h1>${paras.map((p) => `<p>${p}</p>`).join('')}</body></html>`;
const epub = storedZip([
  ['mimetype', 'application/epub+zip'],
  ['META-INF/container.xml', '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>'],
  [
    'OEBPS/content.opf',
    '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">urn:test:rivers</dc:identifier><dc:title>The Rivers of Nowhere</dc:title><dc:language>en</dc:language><dc:creator>Ann Author</dc:creator></metadata><manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/><item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/><item id="c2" href="c2.xhtml" media-type="application/xhtml+xml"/></manifest><spine><itemref idref="c1"/><itemref idref="c2"/></spine></package>',
  ],
  ['OEBPS/nav.xhtml', '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"><body><nav epub:type="toc"><ol><li><a href="c1.xhtml">Mountains</a></li><li><a href="c2.xhtml">The Great River</a></li></ol></nav></body></html>'],
  ['OEBPS/c1.xhtml', chapter('Mountains', ['The mountains are high and cold in winter.', 'Snow lies on the passes until late spring.'])],
  ['OEBPS/c2.xhtml', chapter('The Great River', [`The ${WORD} flows east through the valley &lt;i&gt;slowly&lt;/i&gt; to the sea.`, 'Boats carry timber down to the harbour towns.'])],
]);

const artifacts = join(process.env.RG_BUILD_DIR || tmpdir(), 'web-e2e');
mkdirSync(artifacts, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), 'rg-web-lib-'));
mkdirSync(join(dir, 'models'));
symlinkSync(model, join(dir, 'models', 'stories260K.gguf'));

let step = 'start';
const check = (cond, what) => {
  if (!cond) throw new Error(`${step}: ${what}`);
};

const pgdb = process.env.PGHOST ? `rg_web_lib_${process.pid}` : null;
if (pgdb) {
  const r = spawnSync('createdb', [pgdb], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`createdb ${pgdb}: ${r.stderr || r.error}`);
}
const dbArgs = pgdb ? ['--db', `postgresql:///${pgdb}`] : [];
const server = spawn(bin, ['serve', ...dbArgs, '--port', '0', '--data-dir', join(dir, 'data'), '--models-dir', join(dir, 'models'), '--threads', '2'], {
  env: process.env,
  stdio: ['ignore', 'ignore', 'pipe'],
});
let log = '';
let base = await new Promise((resolve, reject) => {
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
base = base.replace(/\/$/, '');

const browser = await chromium.launch({ executablePath: exe, headless: true, args: ['--no-sandbox'] });
let failed = false;
const results = { backend: pgdb ? 'postgresql' : 'sqlite', axe: {} };
try {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 800 }, bypassCSP: true }); // bypassCSP: axe-core is injected inline
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('dialog', (d) => void d.accept()); // confirm() of a delete
  const axe = async (name) => {
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ content: axeSource });
    const v = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations.map((x) => ({ id: x.id, impact: x.impact, nodes: x.nodes.slice(0, 3).map((n) => n.target.join(' ')) })));
    results.axe[name] = v.map((x) => `${x.id}:${x.impact}`);
    const bad = v.filter((x) => x.impact === 'serious' || x.impact === 'critical');
    check(bad.length === 0, `axe (${name}): ${JSON.stringify(bad)}`);
  };

  // ---- sign up: the first account is the admin ----
  step = 'sign up';
  await page.goto(base + '/');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Name').fill('Librarian');
  await page.getByLabel('Email').fill('lib@example.com');
  await page.getByLabel('Password').fill('a good long password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();

  // ---- the Library page by deep link: the status says what is missing ----
  step = 'library page';
  await page.goto(base + '/library');
  await page.getByRole('heading', { name: 'Library', level: 1 }).waitFor();
  await page.locator('.lib-missing').filter({ hasText: 'no embedding model' }).waitFor();
  check((await page.getByRole('heading', { name: 'Watched folders' }).count()) === 1, 'an admin sees no watched folders section');
  await axe('library (empty)');

  step = 'collection';
  await page.getByRole('textbox', { name: 'New collection' }).fill('Rivers');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { name: 'Add documents to “Rivers”' }).waitFor();

  // ---- uploads: the EPUB by the file button; a note and a broken EPUB dropped ----
  step = 'upload (file button)';
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Choose files…' }).click();
  await (await chooser).setFiles([{ name: 'rivers.epub', mimeType: 'application/epub+zip', buffer: epub }]);
  step = 'upload (drop)';
  await page.locator('.drop-zone').evaluate((el, files) => {
    const dt = new DataTransfer();
    for (const [name, type, text] of files) dt.items.add(new File([text], name, { type }));
    el.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, [
    ['notes.md', 'text/markdown', '# Field notes\n\nThe ferry crosses twice a day.\n'],
    ['broken.epub', 'application/epub+zip', 'PK\u0003\u0004 this is not a zip at all'],
  ]);
  step = 'indexing';
  const doc = (title) => page.locator('.lib-doc').filter({ hasText: title });
  await doc('The Rivers of Nowhere').and(page.locator('[data-state="ready"]')).waitFor({ timeout: 60000 });
  await doc(/notes/i).and(page.locator('[data-state="ready"]')).waitFor({ timeout: 60000 });
  const broken = page.locator('.lib-doc[data-state="error"]');
  await broken.waitFor({ timeout: 60000 });
  const reason = (await broken.locator('.doc-error').textContent())?.trim() ?? '';
  check(reason.length > 3, `the broken EPUB says no reason ("${reason}")`);
  results.broken_epub_error = reason;
  check((await page.locator('.upload[data-state="sent"]').count()) === 3, 'not all three uploads were sent');
  check(/Ann Author/.test((await doc('The Rivers of Nowhere').textContent()) ?? ''), 'the EPUB has no author shown');
  const epubText = (await doc('The Rivers of Nowhere').textContent()) ?? '';
  check(/\b[1-9]\d* passages?/.test(epubText), `the EPUB shows no passages: "${epubText}"`);
  await page.locator('.lib-documents').filter({ hasText: /^3\b/ }).waitFor();
  await axe('library (documents)');
  await page.screenshot({ path: join(artifacts, 'library.png'), fullPage: true });

  // tags by hand, then the broken one deleted
  step = 'tags';
  await page.getByRole('button', { name: /^Tags of .*notes/i }).click();
  await page.getByLabel('Tags', { exact: true }).fill('travel, ferries');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await doc(/notes/i).locator('span', { hasText: 'ferries' }).waitFor();
  step = 'delete a document';
  await broken.getByRole('button', { name: /^Delete / }).click();
  await broken.waitFor({ state: 'detached' });

  // ---- search: the word is marked; the book's "<i>" is text ----
  step = 'search';
  await page.getByRole('link', { name: 'Search the library' }).first().click();
  await page.waitForURL(`${base}/library/search`);
  await page.getByLabel('Words').fill(WORD);
  await page.getByLabel('Mode').selectOption('fulltext');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  const hit = page.locator('.search-hit').first();
  await hit.waitFor();
  check((await hit.locator('mark').first().textContent()) === WORD, `the snippet marks "${await hit.locator('mark').first().textContent()}"`);
  check((await hit.locator('.snippet i, .snippet b, .snippet script').count()) === 0, 'the snippet made markup of the book text');
  const snip = (await hit.locator('.snippet').textContent()) ?? '';
  results.snippet = snip;
  check(/The Great River/.test((await hit.textContent()) ?? ''), 'the hit shows no heading');
  check(new URL(page.url()).searchParams.get('q') === WORD, 'the search is not in the URL');
  await axe('search');
  await page.screenshot({ path: join(artifacts, 'search.png'), fullPage: true });

  step = 'passage';
  await hit.getByRole('button', { name: 'The Rivers of Nowhere' }).click();
  const reader = page.getByRole('dialog');
  await reader.locator('.passage-hit mark').first().waitFor();
  check((await reader.locator('.passage-hit mark').first().textContent()) === WORD, 'the passage does not mark the word');
  check(/slowly/.test((await reader.locator('.passage-hit').textContent()) ?? ''), 'the passage is not the hit');
  check((await reader.locator('section[data-chunk]').count()) >= 2, 'the passage has no neighbours');
  await axe('passage reader');
  await page.screenshot({ path: join(artifacts, 'passage.png') });
  await page.keyboard.press('Escape');
  await reader.waitFor({ state: 'hidden' });
  check((await page.evaluate(() => document.activeElement?.textContent)) === 'The Rivers of Nowhere', 'the focus did not come back to the hit');

  // a reload keeps the search
  await page.reload();
  await page.locator('.search-hit mark').first().waitFor();

  const chunkId = Number(await page.locator('.search-hit').first().getAttribute('data-chunk'));
  check(chunkId > 0, 'the hit has no chunk id');

  // ---- an answer's sources as the app shows them (a faked stream: the model
  // never writes "[1]" itself); hostile text in a snippet stays text ----
  step = 'sources (faked stream)';
  await page.goto(base + '/');
  const box = page.getByLabel('Message', { exact: true });
  await box.waitFor();
  await page.waitForFunction(() => document.querySelector('select[name="model"]')?.value === 'stories260K', null, { timeout: 15000 });
  await page.route('**/chat/conversations/*/messages', async (route) => {
    const body = JSON.parse(route.request().postData() || '{}');
    const cid = Number(/conversations\/(\d+)/.exec(route.request().url())[1]);
    const sources = [{ n: 1, chunk_id: chunkId, document_id: 1, collection_id: 1, title: 'The Rivers of Nowhere', heading: 'The Great River', page_from: 0, page_to: 0, snippet: `The \u0002${WORD}\u0003 flows <b>east</b>` }];
    const m = (id, parent, type, content, extra = {}) => ({ id, conversation_id: cid, thread_id: 0, parent_id: parent, type, role: type, content, model: type === 'assistant' ? 'stories260K' : '', settings: type === 'assistant' ? { sources } : {}, finish: '', incomplete: type === 'assistant', prompt_tokens: 0, completion_tokens: 0, duration_ms: 0, created_at: 1, updated_at: 1, n_children: 0, ...extra });
    const ev = (e, d) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`;
    const text = 'It flows east [1], not west [7].';
    await route.fulfill({
      status: 200,
      headers: { 'Content-Type': 'text/event-stream' },
      body:
        ev('start', { user_message: m(900001, 0, 'user', body.content), assistant_message: m(900002, 900001, 'assistant', '') }) +
        ev('delta', { content: text }) +
        ev('end', { message: m(900002, 900001, 'assistant', text, { finish: 'stop', incomplete: false, completion_tokens: 9, duration_ms: 100 }), usage: { completion_tokens: 9 } }),
    });
  });
  await box.fill('where does it flow?');
  await box.press('Enter');
  const faked = page.locator('article[data-id="900002"]');
  await faked.locator('.stats').waitFor({ timeout: 30000 });
  await page.unroute('**/chat/conversations/*/messages');
  check((await faked.locator('a.cite').count()) === 1, `the answer has ${await faked.locator('a.cite').count()} citation links (want [1] only, [7] is no source)`);
  check(/west \[7\]/.test((await faked.locator('.md').textContent()) ?? ''), 'an unknown [7] was not kept as text');
  check((await faked.locator('.sources mark').textContent()) === WORD, 'the source snippet does not mark the word');
  check((await faked.locator('.sources b').count()) === 0 && /<b>east<\/b>/.test((await faked.locator('.sources').textContent()) ?? ''), 'the source snippet made markup of its text');
  await faked.locator('a.cite').click();
  check((await page.evaluate(() => document.activeElement?.closest('li')?.id)) === 'src-900002-1', 'the [1] link did not go to source 1');
  await page.keyboard.press('Enter'); // the focused source opens its passage
  await reader.locator('.passage-hit mark').first().waitFor();
  check(/slowly/.test((await reader.locator('.passage-hit').textContent()) ?? ''), 'the source opened another passage');
  await page.keyboard.press('Escape');
  await reader.waitFor({ state: 'hidden' });
  await axe('answer with sources');

  // ---- a chat with that collection, for real: Sources under the answer ----
  step = 'chat with the library';
  await page.getByRole('button', { name: '+ New chat' }).click();
  await page.waitForURL(`${base}/`);
  await page.getByRole('button', { name: 'Answer from the library…' }).click();
  await page.getByRole('checkbox', { name: /Rivers/ }).check();
  await page.getByRole('button', { name: 'Done' }).click();
  await page.locator('.collection-chip', { hasText: 'Rivers' }).waitFor();
  await axe('chat with collections');
  await box.fill(`${WORD} flows east`);
  await box.press('Enter');
  const answer = page.locator('article[data-role="assistant"]').last();
  await answer.locator('.stats').waitFor({ timeout: 60000 });
  const src = answer.locator('.sources .source');
  await src.first().waitFor({ timeout: 10000 });
  check(/\[1\]/.test((await src.first().textContent()) ?? '') && /The Rivers of Nowhere/.test((await src.first().textContent()) ?? ''), `the first source reads "${await src.first().textContent()}"`);
  check(/The Great River/.test((await src.first().textContent()) ?? ''), 'the source has no heading');
  results.sources = await src.allTextContents();
  await page.screenshot({ path: join(artifacts, 'chat-sources.png'), fullPage: true });
  step = 'open the cited passage';
  await src.first().getByRole('button').click();
  await reader.locator('.passage-hit').waitFor();
  check(/slowly/.test((await reader.locator('.passage-hit').textContent()) ?? ''), 'the cited passage is not the one found');
  await page.keyboard.press('Escape');
  await reader.waitFor({ state: 'hidden' });
  step = 'reload the chat';
  await page.reload();
  await page.locator('article[data-role="assistant"] .sources .source').first().waitFor();
  await page.locator('.collection-chip', { hasText: 'Rivers' }).waitFor();

  // ---- a phone ----
  step = 'phone';
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base + '/library');
  await page.locator('.lib-doc').first().waitFor();
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 392, `the library page is ${wide}px wide on a 390px phone`);
  await page.screenshot({ path: join(artifacts, 'library-phone.png'), fullPage: true });
  await page.goto(base + `/library/search?q=${WORD}`);
  await page.locator('.search-hit mark').first().waitFor();
  await page.screenshot({ path: join(artifacts, 'search-phone.png'), fullPage: true });
  await axe('search (phone)');

  // ---- collections: rename, publish (admin), delete; watched folders (admin) ----
  step = 'collections';
  await page.setViewportSize({ width: 1100, height: 800 });
  await page.goto(base + '/library');
  await page.getByRole('button', { name: /^Rivers/ }).click();
  await page.getByRole('button', { name: 'Rename' }).click();
  await page.getByLabel('New name').fill('Rivers and Lakes');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByRole('button', { name: /^Rivers and Lakes/ }).waitFor();
  await page.getByRole('button', { name: 'Publish to everyone' }).click();
  await page.getByText('“Rivers and Lakes”, shared with everyone').waitFor();
  await page.getByRole('button', { name: 'Stop sharing' }).click();
  await page.getByRole('button', { name: 'Publish to everyone' }).waitFor();
  await page.getByRole('textbox', { name: 'New collection' }).fill('Scratch');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { name: 'Add documents to “Scratch”' }).waitFor();
  await page.getByRole('button', { name: 'Delete collection' }).click();
  await page.getByRole('button', { name: /^Scratch/ }).waitFor({ state: 'detached' });

  step = 'watched folder';
  const watched = join(dir, 'Field Journal');
  mkdirSync(watched);
  writeFileSync(join(watched, 'day1.md'), '# Day one\n\nWe walked to the Lakeshore station.\n');
  await page.getByRole('button', { name: 'All', exact: true }).click();
  await page.getByLabel('Folder path on the server').fill(watched);
  await page.getByRole('button', { name: 'Watch' }).click();
  await page.locator('.folder', { hasText: watched }).waitFor();
  await page.locator('.lib-doc[data-state="ready"]', { hasText: 'from a watched folder' }).waitFor({ timeout: 30000 });
  await page.getByRole('button', { name: /^Field Journal/ }).waitFor(); // its collection, named after it
  await axe('library (folders)');
  await page.screenshot({ path: join(artifacts, 'library-folders.png'), fullPage: true });
  await page.getByRole('button', { name: `Remove ${watched}` }).click();
  await page.locator('.folder', { hasText: watched }).waitFor({ state: 'detached' });

  // ---- the dark theme: the new pages keep their contrast ----
  step = 'dark';
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(base + '/library');
  await page.locator('.lib-doc').first().waitFor();
  await axe('library (dark)');
  await page.screenshot({ path: join(artifacts, 'library-dark.png'), fullPage: true });
  await page.goto(base + `/library/search?q=${WORD}&mode=fulltext`);
  await page.locator('.search-hit mark').first().waitFor();
  await axe('search (dark)');

  check(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
  console.log(JSON.stringify(results));
  console.error('web library e2e: all steps passed');
} catch (e) {
  failed = true;
  await browser.contexts()[0]?.pages()[0]?.screenshot({ path: join(artifacts, 'library-failure.png'), fullPage: true }).catch(() => {});
  console.error(`web library e2e FAILED: ${e.stack || e}`);
  console.error(`axe so far: ${JSON.stringify(results.axe)}`);
  console.error(`server log:\n${log.slice(-4000)}`);
} finally {
  await browser.close();
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  rmSync(dir, { recursive: true, force: true });
  if (pgdb) spawnSync('dropdb', ['--if-exists', pgdb]);
}
process.exit(failed ? 1 : 0);
