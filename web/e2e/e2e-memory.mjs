// Memory, thinking tools and survival mode in the web app, end to end
// (docs/memory.md, issue 17): the real `rustygpt serve` on stories260K, in
// Debian's Chromium through playwright-core. Sign up (the admin); pick a
// style for a new chat and read its instructions; send; rate the answer with
// the confidence slider and a thumb; select a sentence of it and flag it as
// an assumption (the flag shows marked, and is saved at the right bytes);
// open the context inspector of the answer and see its items; add a glossary
// term on the settings page (edit one, delete one) and see it in the
// inspector's preview of the next message, then switch the glossary off for
// that chat and see it "off"; a thread summary; upload a small text into a
// collection, mark it survival, browse the Water category, search, and ask:
// the answer cites the text; switch the server offline (admin): the header
// shows "Offline", /status says so, and the survival page still answers
// from the survival library. axe-core on each new page (no serious or
// critical violation); screenshots memory-*.png, survival*.png in
// <build>/web-e2e/.
//
// A step whose server route is not in /openapi.json yet is not run against
// the server: the test says so ("SKIP <step>: the server has no GET
// /chat/styles"), drives the page against an in-browser stand-in of that
// route instead (so the page itself is still checked), and exits 77
// (skipped) at the end with RG_E2E_ALLOW_MISSING=1, else 1. It passes (0)
// only when every step ran against the real server. RG_E2E_NO_STANDIN=1: no stand-ins (a skipped step is not run).
//
// Env as e2e.mjs: RG_BIN, RG_TESTDATA, PGHOST (pg_virtualenv: PostgreSQL),
// RG_BUILD_DIR, CHROMIUM. Exit 77 = skipped (said why).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
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
const standIns = process.env.RG_E2E_NO_STANDIN !== '1';

const artifacts = join(process.env.RG_BUILD_DIR || tmpdir(), 'web-e2e');
mkdirSync(artifacts, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), 'rg-web-mem-'));
mkdirSync(join(dir, 'models'));
symlinkSync(model, join(dir, 'models', 'stories260K.gguf'));

let step = 'start';
const check = (cond, what) => {
  if (!cond) throw new Error(`${step}: ${what}`);
};

const pgdb = process.env.PGHOST ? `rg_web_mem_${process.pid}` : null;
if (pgdb) {
  const r = spawnSync('createdb', [pgdb], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`createdb ${pgdb}: ${r.stderr || r.error}`);
}
const dbArgs = pgdb ? ['--db', `postgresql:///${pgdb}`] : [];
// the test embedder (test-hash, RUSTYGPT_TEST_ROUTES=1): a topic shift is decided by word overlap
const server = spawn(bin, ['serve', ...dbArgs, '--port', '0', '--data-dir', join(dir, 'data'), '--models-dir', join(dir, 'models'), '--threads', '2', '--embedding-model', 'test-hash'], {
  env: { ...process.env, RUSTYGPT_TEST_ROUTES: '1' },
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

// ---- which routes the server has; the steps that need others are skipped ----
const spec = await (await fetch(base + '/openapi.json')).json();
const has = (m, p) => !!spec.paths?.[p]?.[m];
const skipped = [];
/** The routes of a step the server lacks; says so once per step. */
function needs(name, routes) {
  const lack = routes.filter(([m, p]) => !has(m, p)).map(([m, p]) => `${m.toUpperCase()} ${p}`);
  if (lack.length) {
    skipped.push(`${name}: the server has no ${lack.join(', ')}`);
    console.error(`SKIP ${name}: the server has no ${lack.join(', ')}${standIns ? ' (the page is driven against an in-browser stand-in instead)' : ''}`);
  }
  return lack.length === 0 || standIns;
}
const STYLE_ROUTES = [['get', '/chat/styles'], ['post', '/chat/styles'], ['patch', '/chat/styles/{id}'], ['delete', '/chat/styles/{id}']];
const RATING_ROUTES = [['put', '/chat/messages/{id}/rating'], ['get', '/chat/messages/{id}/rating'], ['post', '/chat/messages/{id}/flags'], ['delete', '/chat/flags/{id}']];
const CONTEXT_ROUTES = [['get', '/chat/messages/{id}/context'], ['post', '/chat/conversations/{id}/context']];
const MEMORY_ROUTES = [['get', '/chat/memory'], ['put', '/chat/memory']];
const GLOSSARY_ROUTES = [['get', '/chat/glossary'], ['post', '/chat/glossary'], ['patch', '/chat/glossary/{id}'], ['delete', '/chat/glossary/{id}']];
const SUMMARY_ROUTES = [['post', '/chat/threads/{id}/summarize']];
const SURVIVAL_ROUTES = [['get', '/survival/categories'], ['get', '/survival/collections'], ['put', '/survival/collections'], ['get', '/survival/documents'], ['get', '/survival/search'], ['post', '/survival/ask']];
const NETWORK_ROUTES = [['get', '/admin/network'], ['put', '/admin/network'], ['get', '/admin/ratings']];
const styleReal = STYLE_ROUTES.every(([m, p]) => has(m, p));
const contextReal = CONTEXT_ROUTES.every(([m, p]) => has(m, p));
const glossaryReal = GLOSSARY_ROUTES.every(([m, p]) => has(m, p));
let typeReal = true; // whether conversations have a "type" (learnt after sign-up)

// ---- the stand-ins: docs/memory.md in a few lines, for routes not there yet ----
const fake = {
  styles: [
    { id: 'plain', name: 'Plain', builtin: true, description: 'No instructions.', prompt: '' },
    { id: 'socratic', name: 'Socratic', builtin: true, description: 'Answers with questions.', prompt: 'Answer by asking the user questions that lead them to the answer.' },
    { id: 'devils-advocate', name: "Devil's advocate", builtin: true, description: 'Argues the other side.', prompt: 'Argue against the position the user takes.' },
    { id: 'chain-of-thought', name: 'Chain of thought', builtin: true, description: 'Step by step.', prompt: 'Think step by step and show each step.' },
  ],
  nStyle: 0,
  memory: { system: '', sources: { summaries: true, prior: false, glossary: true, library: true }, auto_thread: 'off', auto_thread_distance: 0.6, summary_after: 20 },
  glossary: [],
  nGloss: 0,
  ratings: new Map(),
  nFlag: 0,
  conv: new Map(), // conversation id -> {style, memory} the server does not keep yet
  offline: false,
  forceContext: false,
  lastConv: 0, // the conversation the page last asked about (a message's own)
  survival: [],
  manual: new Map(),
};
const CATS = [
  ['water', 'Water', 'finding, carrying and purifying water', ['water', 'boil', 'drink', 'purify']],
  ['food', 'Food', 'finding and keeping food', ['food', 'eat', 'forage']],
  ['shelter', 'Shelter', 'staying dry and warm', ['shelter', 'tent', 'tarp']],
  ['first-aid', 'First aid', 'injuries and illness', ['wound', 'bandage', 'bleeding']],
  ['fire', 'Fire', 'making and keeping fire', ['fire', 'tinder']],
  ['navigation', 'Navigation', 'finding the way', ['compass', 'map', 'north']],
  ['tools', 'Tools', 'knives, cord, repairs', ['knife', 'cord']],
  ['communication', 'Communication', 'signals and radios', ['radio', 'signal', 'whistle']],
];
const json = (route, status, body) => route.fulfill({ status, headers: { 'Content-Type': 'application/json' }, body: body === undefined ? '' : JSON.stringify(body) });
const utf8 = (s) => Buffer.from(s, 'utf8');
const wordIn = (term, text) => new RegExp(`(^|[^\\p{L}\\p{N}])${term.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\p{L}\\p{N}])`, 'iu').test(text);
const tok = (s) => Math.max(1, Math.ceil(utf8(s).length / 4));

async function real(req, method, path, body) {
  const r = await fetch(base + path, { method, headers: { Authorization: req.headers().authorization ?? '', 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return r.ok ? r.json() : null;
}
async function record(req, cid, content, leaf, overrides) {
  const c = await real(req, 'GET', `/chat/conversations/${cid}?view=tree`);
  const kept = fake.conv.get(cid) ?? {};
  const src = { ...fake.memory.sources, ...(c?.settings?.memory ?? {}), ...(kept.memory ?? {}), ...(overrides?.memory ?? {}) };
  const items = [];
  if (fake.memory.system) items.push({ source: 'system', tokens: tok(fake.memory.system), included: true, reason: 'your instructions' });
  const style = overrides?.style ?? kept.style;
  const st = fake.styles.find((s) => s.id === style);
  if (st && st.prompt) items.push({ source: 'style', ref: { style: st.id }, tokens: tok(st.prompt), included: true, reason: `style ${st.name}` });
  const byId = new Map((c?.messages ?? []).map((m) => [m.id, m]));
  const branch = [];
  for (let m = byId.get(leaf); m; m = byId.get(m.parent_id)) branch.push(m);
  if (content !== null) items.push({ source: 'message', tokens: tok(content), included: true, reason: 'the new message' });
  for (const m of branch) items.push({ source: 'message', ref: { message_id: m.id }, tokens: tok(m.content), included: true, reason: 'recent message' });
  if (!src.glossary) items.push({ source: 'glossary', tokens: 0, included: false, reason: 'turned off' });
  else {
    const text = [content ?? '', ...branch.map((m) => m.content)].join('\n');
    for (const g of fake.glossary) if (wordIn(g.term, text)) items.push({ source: 'glossary', ref: { glossary_id: g.id, term: g.term }, tokens: tok(g.definition), included: true, reason: `'${g.term}' appears in the conversation` });
  }
  if (!src.prior) items.push({ source: 'prior', tokens: 0, included: false, reason: 'turned off' });
  const used = items.reduce((a, i) => a + (i.included ? i.tokens : 0), 0);
  return { n_ctx: 512, budget: 512 - 64, used, items };
}
async function survivalDocs(req) {
  const out = [];
  for (const cid of fake.survival) {
    const r = await real(req, 'GET', `/library/documents?limit=200&collection=${cid}`);
    for (const d of r?.documents ?? []) {
      const text = `${d.title} ${d.source}`.toLowerCase();
      const ch = await real(req, 'GET', `/library/documents/${d.id}/chunks?limit=20`);
      const body = `${text} ${JSON.stringify(ch ?? '')}`.toLowerCase();
      const manual = fake.manual.get(d.id);
      const categories = manual ? manual.map((id) => ({ id, source: 'manual', score: 1 })) : CATS.filter(([, , , words]) => words.some((w) => body.includes(w))).map(([id]) => ({ id, source: 'rule', score: 1 }));
      out.push({ document: d, categories });
    }
  }
  return out;
}
/** The stand-in of one API call, or null to let it through (changed, maybe). */
async function standIn(route) {
  const req = route.request();
  const u = new URL(req.url());
  const m = req.method().toLowerCase();
  const p = u.pathname;
  const body = () => {
    try {
      return JSON.parse(req.postData() || '{}');
    } catch {
      return {};
    }
  };
  let x;
  const seen = /^\/chat\/conversations\/(\d+)/.exec(p);
  if (seen) fake.lastConv = Number(seen[1]);
  // settings.style and settings.memory are kept aside while the server refuses them
  if (!typeReal && m === 'get' && p === '/chat/conversations') {
    const want = u.searchParams.get('type');
    u.searchParams.delete('type');
    const r = await route.fetch({ url: u.toString() });
    const out = await r.json().catch(() => null);
    if (out?.data) {
      for (const c of out.data) Object.assign(c, { type: fake.conv.get(c.id)?.type ?? '', type_auto: false });
      if (want) out.data = out.data.filter((c) => c.type === want);
    }
    return route.fulfill({ response: r, body: JSON.stringify(out) });
  }
  if ((!styleReal || !typeReal) && ((m === 'post' && p === '/chat/conversations') || (m === 'patch' && (x = /^\/chat\/conversations\/(\d+)$/.exec(p))))) {
    const b = body();
    if (!typeReal && 'type' in b) {
      const cid = Number(x?.[1]);
      fake.conv.set(cid, { ...(fake.conv.get(cid) ?? {}), type: b.type });
      delete b.type;
    }
    if (styleReal) {
      const r = await route.fetch({ postData: JSON.stringify(b) });
      return route.fulfill({ response: r });
    }
    const keep = { style: b.settings?.style, memory: b.settings?.memory };
    if (b.settings) {
      delete b.settings.style;
      if (!contextReal) delete b.settings.memory; // a server without the context routes knows no settings.memory
    }
    const r = await route.fetch({ postData: JSON.stringify(b) });
    const out = await r.json().catch(() => null);
    if (r.ok() && out?.id) {
      const cur = fake.conv.get(out.id) ?? {};
      if (b.settings !== undefined || m === 'post') fake.conv.set(out.id, { ...cur, ...(keep.style !== undefined || m === 'patch' ? { style: keep.style } : {}), ...(keep.memory ? { memory: keep.memory } : {}) });
      out.settings = { ...out.settings, ...fake.conv.get(out.id) };
    }
    return route.fulfill({ response: r, body: JSON.stringify(out) });
  }
  if (!styleReal && m === 'post' && /^\/chat\/(conversations\/\d+\/messages|messages\/\d+\/(edit|regenerate))$/.test(p)) {
    const b = body();
    if (b.settings) {
      delete b.settings.style;
      if (Object.keys(b.settings).length === 0) delete b.settings;
    }
    return route.continue({ postData: JSON.stringify(b) });
  }
  if (m === 'get' && (x = /^\/chat\/conversations\/(\d+)$/.exec(p)) && (!styleReal || !typeReal || !has('put', '/chat/messages/{id}/rating'))) {
    const r = await route.fetch();
    const out = await r.json().catch(() => null);
    if (out && !typeReal) Object.assign(out, { type: fake.conv.get(Number(x[1]))?.type ?? '', type_auto: false });
    if (out && !styleReal) out.settings = { ...out.settings, ...(fake.conv.get(Number(x[1])) ?? {}) };
    if (out && !has('put', '/chat/messages/{id}/rating')) for (const msg of out.messages ?? []) msg.rating = fake.ratings.get(msg.id) ?? null;
    return route.fulfill({ response: r, body: JSON.stringify(out) });
  }
  if (m === 'get' && p === '/status' && !has('get', '/admin/network')) {
    const r = await route.fetch();
    const out = await r.json().catch(() => ({}));
    out.offline = fake.offline;
    return route.fulfill({ response: r, body: JSON.stringify(out) });
  }
  // routes the server lacks
  const tpl = p.replace(/\/\d+(?=\/|$)/g, '/{id}').replace(/^\/chat\/styles\/[^/]+$/, '/chat/styles/{id}');
  // the glossary stood in: the context that shows it is stood in too
  if (has(m, tpl) && !(fake.forceContext && /\/context$/.test(tpl))) return route.continue();
  const id = Number((/\/(\d+)(?:\/|$)/.exec(p) ?? [])[1]);
  const rating = (mid) => fake.ratings.get(mid) ?? { confidence: null, thumbs: null, flags: [], updated_at: 0 };
  switch (`${m} ${tpl}`) {
    case 'get /chat/styles':
      return json(route, 200, { data: fake.styles });
    case 'get /chat/styles/{id}':
      return json(route, 200, fake.styles.find((s) => s.id === p.split('/').pop()));
    case 'post /chat/styles': {
      const s = { id: `custom-${++fake.nStyle}`, builtin: false, description: '', ...body() };
      fake.styles.push(s);
      return json(route, 201, s);
    }
    case 'patch /chat/styles/{id}': {
      const s = fake.styles.find((y) => y.id === p.split('/').pop());
      if (s.builtin) return json(route, 400, { error: { message: 'a built-in style cannot be changed', code: 'builtin_style' } });
      Object.assign(s, body());
      return json(route, 200, s);
    }
    case 'delete /chat/styles/{id}':
      fake.styles = fake.styles.filter((y) => y.id !== p.split('/').pop());
      return json(route, 204);
    case 'get /chat/memory':
      return json(route, 200, fake.memory);
    case 'put /chat/memory': {
      const b = body();
      fake.memory = { ...fake.memory, ...b, sources: { ...fake.memory.sources, ...(b.sources ?? {}) } };
      return json(route, 200, fake.memory);
    }
    case 'get /chat/glossary':
      return json(route, 200, { data: fake.glossary.filter((g) => g.term.toLowerCase().startsWith((u.searchParams.get('q') ?? '').toLowerCase())).sort((a, b) => a.term.localeCompare(b.term)) });
    case 'post /chat/glossary': {
      const b = body();
      if (fake.glossary.some((g) => g.term.toLowerCase() === String(b.term).toLowerCase())) return json(route, 409, { error: { message: 'that term exists', code: 'exists' } });
      const g = { id: ++fake.nGloss, term: b.term, definition: b.definition, created_at: Date.now(), updated_at: Date.now() };
      fake.glossary.push(g);
      return json(route, 201, g);
    }
    case 'patch /chat/glossary/{id}': {
      const g = fake.glossary.find((y) => y.id === id);
      Object.assign(g, body(), { updated_at: Date.now() });
      return json(route, 200, g);
    }
    case 'delete /chat/glossary/{id}':
      fake.glossary = fake.glossary.filter((y) => y.id !== id);
      return json(route, 204);
    case 'get /chat/messages/{id}/rating':
      return json(route, 200, rating(id));
    case 'put /chat/messages/{id}/rating': {
      const r = { ...rating(id), ...body(), updated_at: Date.now() };
      fake.ratings.set(id, r);
      return json(route, 200, r);
    }
    case 'post /chat/messages/{id}/flags': {
      const b = body();
      const conv = await real(req, 'GET', `/chat/conversations/${fake.lastConv}?view=tree`);
      const content = conv?.messages?.find((x) => x.id === id)?.content ?? '';
      const bytes = utf8(content);
      if (!(b.start >= 0 && b.end <= bytes.length && b.start < b.end)) return json(route, 400, { error: { message: 'start and end must be within the content', code: 'bad_range' } });
      const f = { id: ++fake.nFlag, message_id: id, start: b.start, end: b.end, quote: bytes.subarray(b.start, b.end).toString('utf8'), note: b.note ?? '', created_at: Date.now() };
      const r = rating(id);
      fake.ratings.set(id, { ...r, flags: [...r.flags, f] });
      return json(route, 201, f);
    }
    case 'delete /chat/flags/{id}':
      for (const [k, r] of fake.ratings) fake.ratings.set(k, { ...r, flags: r.flags.filter((f) => f.id !== id) });
      return json(route, 204);
    case 'get /chat/messages/{id}/context': {
      const cid = fake.lastConv;
      const conv = await real(req, 'GET', `/chat/conversations/${cid}?view=tree`);
      const msg = conv?.messages?.find((y) => y.id === id);
      return json(route, 200, { message_id: id, ...(await record(req, cid, null, msg?.parent_id ?? 0, { style: msg?.settings?.style ?? fake.conv.get(cid)?.style })) });
    }
    case 'post /chat/conversations/{id}/context': {
      const b = body();
      return json(route, 200, await record(req, id, b.content ?? '', b.parent_id ?? 0, b.settings ?? {}));
    }
    case 'post /chat/threads/{id}/summarize':
      return json(route, 404, { error: { message: 'no summaries in this server yet', code: 'not_found' } });
    case 'get /chat/ratings/export':
      return json(route, 200, { data: [...fake.ratings].map(([message_id, r]) => ({ message_id, rating: r })) });
    case 'get /admin/network':
      return json(route, 200, { offline: fake.offline });
    case 'put /admin/network':
      fake.offline = !!body().offline;
      return json(route, 200, { offline: fake.offline });
    case 'get /admin/ratings': {
      const rs = [...fake.ratings.values()].filter((r) => r.confidence !== null || r.thumbs || r.flags.length);
      const conf = rs.filter((r) => r.confidence !== null);
      return json(route, 200, { data: rs.length ? [{ model: 'stories260K', answers_rated: rs.length, avg_confidence: conf.length ? conf.reduce((a, r) => a + r.confidence, 0) / conf.length : null, thumbs_up: rs.filter((r) => r.thumbs === 'up').length, thumbs_down: rs.filter((r) => r.thumbs === 'down').length, flags: rs.reduce((a, r) => a + r.flags.length, 0) }] : [] });
    }
    case 'get /survival/categories': {
      const docs = await survivalDocs(req);
      return json(route, 200, { data: CATS.map(([cid, name, description]) => ({ id: cid, name, description, n_documents: docs.filter((d) => d.categories.some((c) => c.id === cid)).length })) });
    }
    case 'get /survival/collections':
      return json(route, 200, { collections: fake.survival });
    case 'put /survival/collections':
      fake.survival = body().collections ?? [];
      return json(route, 200, { collections: fake.survival, job: 1 });
    case 'get /survival/documents': {
      const cat = u.searchParams.get('category');
      const docs = (await survivalDocs(req)).filter((d) => !cat || d.categories.some((c) => c.id === cat));
      return json(route, 200, { data: docs, has_more: false });
    }
    case 'put /survival/documents/{id}/categories':
      fake.manual.set(id, body().categories ?? []);
      return json(route, 200, { categories: fake.manual.get(id).map((c) => ({ id: c, source: 'manual', score: 1 })) });
    case 'get /survival/search': {
      const r = fake.survival.length ? await real(req, 'GET', `/search?mode=fulltext&q=${encodeURIComponent(u.searchParams.get('q') ?? '')}&collections=${fake.survival.join(',')}`) : null;
      return json(route, 200, r ?? { mode: 'fulltext', asked: 'fulltext', degraded: false, results: [] });
    }
    case 'post /survival/ask': {
      const b = body();
      const words = String(b.question).replace(/[^\p{L}\p{N} ]/gu, ' ').split(/\s+/).filter((w) => w.length > 3);
      let hits = [];
      for (const w of words) {
        const r = fake.survival.length ? await real(req, 'GET', `/search?mode=fulltext&q=${encodeURIComponent(w)}&collections=${fake.survival.join(',')}`) : null;
        if (r?.results?.length) {
          hits = r.results;
          break;
        }
      }
      if (!hits.length) return json(route, 200, { answer: 'Nothing in your survival library answers this.', sources: [] });
      const h = hits[0];
      const text = h.snippet.replace(/<\/?mark>/g, '');
      return json(route, 200, { answer: `From your survival library: ${text} [1]`, sources: [{ n: 1, chunk_id: h.chunk_id, document_id: h.document_id, collection_id: h.collection_id, title: h.title, heading: h.location?.heading ?? '', page_from: 0, page_to: 0, snippet: text }] });
    }
    default:
      return route.continue();
  }
}

const browser = await chromium.launch({ executablePath: exe, headless: true, args: ['--no-sandbox'] });
let failed = false;
const results = { backend: pgdb ? 'postgresql' : 'sqlite', axe: {}, skipped };
try {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 800 }, bypassCSP: true }); // bypassCSP: axe-core is injected inline
  if (standIns) await ctx.route((url) => url.origin === base && !/^\/(assets\/|favicon)/.test(url.pathname), (route) => standIn(route));
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const outside = []; // the app loads no external asset, ever (docs/memory.md "Offline mode")
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base + '/') && !/^(data|blob):/.test(u)) outside.push(u);
  });
  page.on('dialog', (d) => void d.accept());
  const axe = async (name) => {
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ content: axeSource });
    const v = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations.map((x) => ({ id: x.id, impact: x.impact, nodes: x.nodes.slice(0, 3).map((n) => n.target.join(' ')) })));
    results.axe[name] = v.map((x) => `${x.id}:${x.impact}`);
    const bad = v.filter((x) => x.impact === 'serious' || x.impact === 'critical');
    check(bad.length === 0, `axe (${name}): ${JSON.stringify(bad)}`);
  };
  /** A call with the page's own session (the access token is in memory: ask the server the same way the page does). */
  let token = '';
  const api = async (method, path, body) => {
    const r = await fetch(base + path, { method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : typeof body === 'string' || body instanceof Buffer ? body : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };

  // ---- sign up: the first account is the admin ----
  step = 'sign up';
  await page.goto(base + '/');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Name').fill('Thinker');
  await page.getByLabel('Email').fill('think@example.com');
  await page.getByLabel('Password').fill('a good long password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  token = (await api('POST', '/auth/login', { email: 'think@example.com', password: 'a good long password' })).body.access_token;
  check(!!token, 'no token for the test’s own calls');
  {
    const c = (await api('POST', '/chat/conversations', { model: 'stories260K' })).body;
    typeReal = 'type' in c;
    await api('DELETE', `/chat/conversations/${c.id}`);
    if (!typeReal) {
      skipped.push('conversation type: conversations have no "type" yet (PATCH /chat/conversations/{id} with "type", ?type=)');
      console.error(`SKIP conversation type: conversations have no "type" yet${standIns ? ' (the page is driven against an in-browser stand-in instead)' : ''}`);
    }
  }

  // ---- a style for a new chat; its instructions readable ----
  step = 'style';
  const styleRun = needs('pick a style', STYLE_ROUTES);
  const box = page.getByLabel('Message', { exact: true });
  await page.waitForFunction(() => document.querySelector('select[name="model"]')?.value === 'stories260K', null, { timeout: 15000 });
  let convId = 0;
  let answerId = 0;
  const answer = page.locator('article[data-role="assistant"]').last();
  if (styleRun) {
    await page.getByLabel('Style', { exact: true }).selectOption('socratic');
    await page.getByRole('button', { name: 'About the style' }).click();
    const prompt = (await page.locator('#style-info .style-prompt').textContent()) ?? '';
    check(prompt.length > 20 && !/no instructions/.test(prompt), `the Socratic style's instructions read "${prompt}"`);
    results.socratic = prompt.slice(0, 80);
  }
  await box.fill('Once upon a time the river was wide. Tell me about the river.');
  await box.press('Enter');
  await answer.locator('.stats').waitFor({ timeout: 60000 });
  await page.waitForURL(/\/c\/\d+$/);
  convId = Number(page.url().split('/').pop());
  answerId = Number(await answer.getAttribute('data-id'));
  check(answerId > 0, 'the answer has no id');
  if (styleRun && styleReal) {
    const c = (await api('GET', `/chat/conversations/${convId}?view=branch`)).body;
    check(c.settings?.style === 'socratic', `the conversation's style is ${JSON.stringify(c.settings?.style)}`);
    const a = c.messages.find((m) => m.id === answerId);
    check(a?.settings?.style === 'socratic', `the answer does not keep its style: ${JSON.stringify(a?.settings)}`);
  }
  await axe('chat (style)');

  // ---- rate it: the slider, a thumb ----
  step = 'rate';
  if (needs('rate an answer', RATING_ROUTES)) {
    await answer.locator('input.confidence').fill('70');
    await answer.locator('.confidence-value', { hasText: '70/100' }).waitFor();
    await answer.getByRole('button', { name: 'Thumbs up' }).click();
    await answer.locator('button[aria-label="Thumbs up"][aria-pressed="true"]').waitFor();
    if (has('get', '/chat/messages/{id}/rating')) {
      const r = (await api('GET', `/chat/messages/${answerId}/rating`)).body;
      check(r.confidence === 70 && r.thumbs === 'up', `the saved rating is ${JSON.stringify(r)}`);
    }
  }

  // ---- flag an assumption: select a sentence, note it ----
  step = 'flag';
  if (needs('flag an assumption', RATING_ROUTES)) {
    const picked = await answer.locator('.answer-body').evaluate((el) => {
      const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        const t = n.textContent ?? '';
        const m = /\S[^.!?]{8,}[.!?]?/.exec(t);
        if (!m) continue;
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(r);
        el.dispatchEvent(new MouseEvent('mouseup', { bubbles: true }));
        return m[0];
      }
      return '';
    });
    check(picked.length > 8, `no sentence to select in the answer (“${await answer.locator('.answer-body').textContent()}”)`);
    await answer.getByRole('button', { name: 'Flag as assumption' }).click();
    await answer.getByLabel('Note (why is it an assumption?)').fill('the story never says so');
    await answer.getByRole('button', { name: 'Save flag' }).click();
    await answer.locator('.flag-item').first().waitFor();
    await answer.locator('.answer-body mark.flag').first().waitFor();
    const marked = (await answer.locator('.answer-body mark.flag').allTextContents()).join('');
    check(marked.replace(/\s+/g, ' ').trim() === picked.replace(/\s+/g, ' ').trim(), `marked “${marked}”, selected “${picked}”`);
    const content = (await api('GET', `/chat/conversations/${convId}?view=branch`)).body.messages.find((m) => m.id === answerId)?.content ?? '';
    const flags = standIns && !has('post', '/chat/messages/{id}/flags') ? [...fake.ratings.get(answerId).flags] : (await api('GET', `/chat/messages/${answerId}/rating`)).body.flags;
    check(flags.length === 1, `${flags.length} flags saved`);
    const bytes = Buffer.from(content, 'utf8').subarray(flags[0].start, flags[0].end).toString('utf8');
    check(bytes.replace(/[*_`]/g, '').replace(/\s+/g, ' ').trim() === picked.replace(/\s+/g, ' ').trim(), `the flag's bytes are “${bytes}”, selected “${picked}”`);
    check(flags[0].note === 'the story never says so', `the note is ${JSON.stringify(flags[0].note)}`);
    await axe('chat (rated, flagged)');
    await page.screenshot({ path: join(artifacts, 'memory-chat.png'), fullPage: true });
    // a reload keeps the rating and the flag
    await page.reload();
    await answer.locator('.answer-body mark.flag').first().waitFor();
    await answer.locator('.confidence-value', { hasText: '70/100' }).waitFor();
  }

  // ---- the context inspector of the answer ----
  step = 'context inspector';
  needs('memory settings', MEMORY_ROUTES);
  if (needs('the context inspector', CONTEXT_ROUTES)) {
    await answer.getByRole('button', { name: 'Context', exact: true }).click();
    const dlg = page.getByRole('dialog', { name: 'Context of this answer' });
    await dlg.locator('.context-item').first().waitFor();
    const sources = await dlg.locator('.context-item').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-source')}:${r.getAttribute('data-included')}`));
    results.context = sources;
    check(sources.includes('message:yes'), `no message in the answer's context: ${sources}`);
    if (styleRun && (styleReal || !contextReal)) check(sources.includes('style:yes'), `the Socratic style is not in the context: ${sources}`);
    check(/tokens used/.test((await dlg.locator('.context-summary').textContent()) ?? ''), 'no totals line');
    await axe('context inspector');
    await page.screenshot({ path: join(artifacts, 'memory-inspector.png') });
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'hidden' });
  }

  // ---- the glossary: add, edit, delete; seen in the inspector ----
  step = 'glossary';
  if (needs('the glossary', GLOSSARY_ROUTES)) {
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Glossary' }).waitFor();
    const add = async (term, def) => {
      await page.locator('input[name="glossary_term"]').fill(term);
      await page.locator('input[name="glossary_definition"]').fill(def);
      await page.getByRole('button', { name: 'Add term' }).click();
      await page.locator(`.glossary-entry[data-term="${term}"]`).waitFor();
    };
    await add('river', 'a large natural stream of water');
    await add('scratch', 'to be deleted');
    await page.getByRole('button', { name: 'Edit river' }).click();
    await page.getByRole('form', { name: 'Edit river' }).getByLabel('Definition').fill('a large natural stream of fresh water');
    await page.getByRole('button', { name: 'Save term' }).click();
    await page.locator('.glossary-entry[data-term="river"]', { hasText: 'fresh water' }).waitFor();
    await page.getByRole('button', { name: 'Delete scratch' }).click();
    await page.locator('.glossary-entry[data-term="scratch"]').waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Read Socratic' }).click();
    await page.locator('.style-item[data-style="socratic"] .style-prompt').waitFor();
    if (needs('export the ratings', [['get', '/chat/ratings/export']])) {
      const dl = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Export as JSON' }).click();
      const file = await (await dl).path();
      const text = readFileSync(file, 'utf8');
      check(text.includes(String(answerId)) && /70/.test(text), `the export does not carry the rated answer: ${text.slice(0, 300)}`);
    }
    await axe('settings (memory, styles, glossary)');
    await page.screenshot({ path: join(artifacts, 'memory-settings.png'), fullPage: true });

    fake.forceContext = !glossaryReal && standIns;
    if (needs('the glossary in the context inspector', CONTEXT_ROUTES)) {
      await page.goto(`${base}/c/${convId}`);
      await box.fill('Is the River deep?');
      await page.getByRole('button', { name: 'Preview context' }).click();
      const dlg = page.getByRole('dialog', { name: 'Context of the message before sending' });
      const gloss = dlg.locator('.context-item[data-source="glossary"][data-included="yes"]');
      await gloss.first().waitFor();
      check(/river/.test((await gloss.first().textContent()) ?? ''), `the glossary row reads "${await gloss.first().textContent()}"`);
      // switched off for this chat: the preview says so
      await dlg.getByLabel('Glossary').uncheck();
      await dlg.locator('.context-item[data-source="glossary"][data-included="no"]', { hasText: 'turned off' }).waitFor();
      check((await gloss.count()) === 0, 'the glossary is still in after switching it off');
      const saved = (await api('GET', `/chat/conversations/${convId}?view=branch`)).body.settings?.memory;
      if (contextReal) check(saved?.glossary === false, `settings.memory is ${JSON.stringify(saved)}`);
      await page.keyboard.press('Escape');
      await dlg.waitFor({ state: 'hidden' });
    }
    fake.forceContext = false;
  }

  // ---- a thread's summary, on demand ----
  step = 'summary';
  if (has('post', '/chat/threads/{id}/summarize')) {
    await page.goto(`${base}/c/${convId}`);
    await page.getByRole('button', { name: 'Summarize', exact: true }).click();
    await page.locator('.thread-summary details summary').waitFor({ timeout: 60000 });
    await page.locator('.thread-summary details summary').click();
    check(((await page.locator('.thread-summary details').textContent()) ?? '').length > 30, 'the summary is empty');
  } else {
    needs('summarize a thread', SUMMARY_ROUTES);
  }

  // ---- survival: a text in a collection marked survival ----
  step = 'survival';
  const col = (await api('POST', '/library/collections', { name: 'Field guide' })).body;
  check(col?.id > 0, `no collection: ${JSON.stringify(col)}`);
  const guide = '# Safe water\n\nBoil water for one full minute to make it safe to drink. Let it cool in a clean pot.\n\n## Carrying\n\nCarry two litres a day in sealed bottles.\n';
  const up = await fetch(`${base}/library/documents?name=water.md&collection=${col.id}`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'text/markdown' }, body: guide });
  check(up.ok, `upload: ${up.status} ${await up.text()}`);
  for (let i = 0; i < 120; i++) {
    const d = (await api('GET', `/library/documents?collection=${col.id}`)).body.documents;
    if (d?.[0]?.state === 'ready') break;
    check(d?.[0]?.state !== 'error', `the guide did not index: ${d?.[0]?.error}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  if (needs('the survival page', SURVIVAL_ROUTES)) {
    await page.getByRole('link', { name: 'Survival' }).click();
    await page.waitForURL(`${base}/survival`);
    await page.getByRole('heading', { name: 'Survival', level: 1 }).waitFor();
    await page.getByLabel('Survival: Field guide (1)').check();
    await page.getByText(/^Saved/).waitFor();
    const water = page.locator('button[data-category="water"]');
    await water.waitFor();
    for (let i = 0; i < 60 && !/\(1\)/.test((await water.textContent()) ?? ''); i++) {
      await new Promise((r) => setTimeout(r, 1000)); // tagging is a job
      await page.reload();
      await water.waitFor();
    }
    await water.click();
    await page.locator('.survival-doc', { hasText: /water/i }).waitFor();
    await page.getByLabel(/^Search Water/).fill('boil');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('.survival-hit mark').first().waitFor();
    await page.getByLabel('Question').fill('How long should I boil water?');
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    const ans = page.locator('article.survival-answer');
    await ans.locator('.sources .source').first().waitFor({ timeout: 60000 });
    check(/water/i.test((await ans.locator('.sources .source').first().textContent()) ?? ''), `the answer cites "${await ans.locator('.sources .source').first().textContent()}"`);
    results.survival_answer = ((await ans.textContent()) ?? '').slice(0, 200);
    await axe('survival');
    await page.screenshot({ path: join(artifacts, 'survival.png'), fullPage: true });
  }

  // ---- offline (admin): the badge, /status, and the survival page still answers ----
  step = 'offline';
  if (needs('offline mode', NETWORK_ROUTES)) {
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('heading', { name: 'Network' }).waitFor();
    await page.getByRole('switch', { name: /Offline mode/ }).check();
    await page.locator('.offline-badge:visible').waitFor();
    await page.locator('.ratings tr[data-model="stories260K"]').waitFor();
    if (has('get', '/admin/network')) {
      const s = (await api('GET', '/status')).body;
      check(s.offline === true, `/status says offline ${s.offline}`);
    }
    await axe('admin (network, ratings)');
    await page.screenshot({ path: join(artifacts, 'admin-network.png'), fullPage: true });
    if (needs('the survival page offline', SURVIVAL_ROUTES)) {
      await page.getByRole('link', { name: 'Survival' }).click();
      await page.getByLabel('Question').fill('How do I carry water?');
      await page.getByRole('button', { name: 'Ask', exact: true }).click();
      await page.locator('article.survival-answer[aria-label="Answer to How do I carry water?"] .sources .source').first().waitFor({ timeout: 60000 });
      await page.locator('.offline-badge:visible').waitFor();
      await page.setViewportSize({ width: 390, height: 844 });
      await page.locator('.offline-badge:visible').waitFor(); // the phone's bar
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      check(wide <= 392, `the survival page is ${wide}px wide on a 390px phone`);
      await page.screenshot({ path: join(artifacts, 'survival-offline-phone.png'), fullPage: true });
      await axe('survival (phone, offline)');
      await page.setViewportSize({ width: 1100, height: 800 });
    }
  }

  // ---- the type filter of the sidebar, and a type set by hand ----
  step = 'type';
  await page.goto(`${base}/c/${convId}`);
  const typeSet = await page.getByLabel('Conversation type').selectOption('practical').then(
    async () => {
      await page.waitForTimeout(300);
      return (await api('GET', `/chat/conversations/${convId}?view=branch`)).body;
    },
  );
  if (typeSet?.type === 'practical' || (!typeReal && standIns)) {
    await page.locator('h1 .type-badge', { hasText: 'Practical' }).waitFor();
    await page.getByLabel('Show conversations of type').selectOption('reflective');
    await page.locator(`li[data-conv="${convId}"]`).waitFor({ state: 'detached' });
    await page.getByLabel('Show conversations of type').selectOption('practical');
    await page.locator(`li[data-conv="${convId}"] .type-badge`).waitFor();
  } else {
    check(!typeReal, `the type set by hand was not saved: ${JSON.stringify(typeSet?.type)}`);
  }

  // ---- a topic shift (auto_thread "suggest"): the banner, and the move to a new thread ----
  step = 'topic shift';
  {
    const put = await api('PUT', '/chat/memory', { auto_thread: 'suggest', auto_thread_distance: 0.5 });
    check(put.status === 200, `PUT /chat/memory: ${put.status} ${JSON.stringify(put.body)}`);
    await page.goto(base + '/');
    await page.getByRole('button', { name: 'New chat' }).first().click();
    await box.fill('The river was wide and the boats on the river were slow.');
    await box.press('Enter');
    await page.waitForURL(/\/c\/\d+$/);
    await page.locator('article[data-role="assistant"] .stats').last().waitFor({ timeout: 60000 });
    const shiftConv = Number(page.url().split('/').pop());
    check(await page.locator('.topic-shift').count() === 0, 'a topic shift on the first message');
    await box.fill('Quantum zebra xylophone marmalade?');
    await box.press('Enter');
    const banner = page.locator('.topic-shift');
    await banner.waitFor({ timeout: 60000 });
    check(/new topic/i.test((await banner.textContent()) ?? ''), `the banner reads "${await banner.textContent()}"`);
    await axe('topic shift');
    await page.screenshot({ path: join(artifacts, 'memory-topic-shift.png'), fullPage: true });
    await page.locator('article[data-role="assistant"] .stats').last().waitFor({ timeout: 60000 });
    await page.getByRole('button', { name: 'Move to a new thread' }).click();
    await banner.waitFor({ state: 'detached', timeout: 15000 });
    let threads = 0;
    for (let i = 0; i < 30 && threads < 2; i++) {
      threads = ((await api('GET', `/chat/conversations/${shiftConv}`)).body?.threads ?? []).length;
      if (threads < 2) await new Promise((r) => setTimeout(r, 300));
    }
    check(threads === 2, `after "Move to a new thread" the conversation has ${threads} threads`);
    await api('PUT', '/chat/memory', { auto_thread: 'off' });
  }

  // ---- a phone, and the dark theme: the chat with its new controls keeps fitting and its contrast ----
  step = 'phone and dark';
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/c/${convId}`);
  await answer.locator('.rating').waitFor();
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 392, `the chat is ${wide}px wide on a 390px phone`);
  await page.screenshot({ path: join(artifacts, 'memory-chat-phone.png'), fullPage: true });
  await axe('chat (phone)');
  await page.setViewportSize({ width: 1100, height: 800 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(`${base}/settings`);
  await page.getByRole('heading', { name: 'Glossary' }).waitFor();
  await axe('settings (dark)');
  await page.goto(`${base}/c/${convId}`);
  await answer.locator('.rating').waitFor();
  await axe('chat (dark)');
  await page.goto(`${base}/survival`);
  await page.getByRole('heading', { name: 'Categories' }).waitFor();
  await axe('survival (dark)');
  await page.screenshot({ path: join(artifacts, 'survival-dark.png'), fullPage: true });

  check(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
  check(outside.length === 0, `the page asked outside the server: ${outside.slice(0, 5).join(', ')}`);
  console.log(JSON.stringify(results));
  console.error(skipped.length ? `web memory e2e: the steps run passed; ${skipped.length} skipped:\n  ${skipped.join('\n  ')}` : 'web memory e2e: all steps passed');
} catch (e) {
  failed = true;
  await browser.contexts()[0]?.pages()[0]?.screenshot({ path: join(artifacts, 'memory-failure.png'), fullPage: true }).catch(() => {});
  console.error(`web memory e2e FAILED: ${e.stack || e}`);
  console.error(`axe so far: ${JSON.stringify(results.axe)}`);
  console.error(`server log:\n${log.slice(-4000)}`);
} finally {
  await browser.close();
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  rmSync(dir, { recursive: true, force: true });
  if (pgdb) spawnSync('dropdb', ['--if-exists', pgdb]);
}
// every route is on main now: a step without its route is a failure unless
// RG_E2E_ALLOW_MISSING=1 (a branch that lacks part of the server)
process.exit(failed ? 1 : skipped.length ? (process.env.RG_E2E_ALLOW_MISSING === '1' ? 77 : 1) : 0);
