/**
 * The knowledge library (docs/library.md) as the app sees it: the shapes of
 * /library/... and /search, and the small logic worth testing on its own:
 * snippets to marked segments (never HTML: the server's <mark> snippet and
 * the U+0002/U+0003 markers of a saved source both become plain text runs
 * with a "marked" flag), a location as a line of text, words to mark in a
 * passage, the [n] citations in an answer's text, and the documents that are
 * still being indexed (the page polls while there are some).
 */
export interface Collection {
  id: number;
  name: string;
  description: string;
  shared: boolean;
  own: boolean;
  documents: number;
  created_at: number;
  updated_at: number;
}

export type DocState = 'queued' | 'indexing' | 'ready' | 'error';

export interface LibDocument {
  id: number;
  collection_id: number;
  folder_id: number;
  source: string;
  format: string;
  title: string;
  authors: string;
  language: string;
  tags: string[];
  size: number;
  state: DocState;
  progress: number;
  error: string;
  chunks: number;
  embedding_model: string | null;
  own: boolean;
  job_id?: number;
  created_at: number;
  updated_at: number;
}

export interface Folder {
  id: number;
  owner_id: number;
  collection_id: number;
  path: string;
  created_at: number;
}

export interface LibStatus {
  documents: number;
  states: Record<string, number>;
  chunks: number;
  embedded_chunks: number;
  collections: number;
  folders: number;
  watching: number;
  embedding_model: { id: string; index_open: boolean; vectors: number; dim: number; index_bytes: number } | null;
  search: 'hybrid' | 'fulltext';
  missing: string[];
}

export interface Location {
  heading: string;
  section: string;
  page_from: number | null;
  page_to: number | null;
  part: string;
  byte_from: number;
  byte_to: number;
  ordinal: number;
}

export type SearchMode = 'hybrid' | 'fulltext' | 'vector';

export interface SearchHit {
  chunk_id: number;
  document_id: number;
  collection_id: number;
  score: number;
  title: string;
  source: string;
  snippet: string;
  location: Location;
  rank_fulltext: number | null;
  rank_vector: number | null;
}

export interface SearchReply {
  mode: SearchMode;
  asked: SearchMode;
  degraded: boolean;
  note?: string;
  results: SearchHit[];
}

export interface Chunk {
  id: number;
  document_id: number;
  text: string;
  location: Location;
  tokens: number;
}

export interface Passage {
  chunk: Chunk;
  document: LibDocument;
  before: Chunk[];
  after: Chunk[];
}

/** A source saved with an answer (docs/chat.md "Answers from the library"). */
export interface Source {
  n: number;
  chunk_id: number;
  document_id: number;
  collection_id: number;
  title: string;
  heading: string;
  page_from: number;
  page_to: number;
  snippet: string;
}

/** A run of text, marked (a word found) or not. */
export interface Seg {
  text: string;
  mark: boolean;
}

const ENT: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", apos: "'" };

/** The few entities the server's snippet escaper writes (and numeric ones); others stay as written. */
export function unescapeHtml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#39|#(\d{1,7})|#x([0-9a-fA-F]{1,6}));/g, (all, name: string, dec?: string, hex?: string) => {
    if (dec || hex) {
      const cp = dec ? Number(dec) : parseInt(hex!, 16);
      return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : all;
    }
    return ENT[name] ?? all;
  });
}

function push(out: Seg[], text: string, mark: boolean) {
  if (!text) return;
  const last = out[out.length - 1];
  if (last && last.mark === mark) last.text += text;
  else out.push({ text, mark });
}

/**
 * A /search snippet (HTML: the text escaped, matches in <mark>) as segments.
 * Only <mark> and </mark> are read as tags; anything else that looks like
 * markup stays text (and the text is unescaped once, as the server escaped it).
 */
export function snippetFromHtml(html: string): Seg[] {
  const out: Seg[] = [];
  let mark = false;
  for (const part of html.split(/(<\/?mark>)/i)) {
    const p = part.toLowerCase();
    if (p === '<mark>') mark = true;
    else if (p === '</mark>') mark = false;
    else push(out, unescapeHtml(part), mark);
  }
  return out;
}

/** A saved source's snippet (plain text, matches between U+0002 and U+0003) as segments. */
export function snippetFromMarkers(s: string): Seg[] {
  const out: Seg[] = [];
  let mark = false;
  let run = '';
  for (const ch of s) {
    if (ch === '\u0002' || ch === '\u0003') {
      push(out, run, mark);
      run = '';
      mark = ch === '\u0002';
    } else run += ch;
  }
  push(out, run, mark);
  return out;
}

/** The distinct marked words of some segments (to mark them again in a whole passage). */
export function markedTerms(segs: Seg[]): string[] {
  const seen = new Set<string>();
  for (const s of segs) if (s.mark && s.text.trim()) seen.add(s.text.trim().toLowerCase());
  return [...seen];
}

const escRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** text with every (case-insensitive) occurrence of terms marked; whole words only when a term is one. */
export function markTerms(text: string, terms: string[]): Seg[] {
  const ts = terms.map((t) => t.trim()).filter((t) => t.length > 0);
  if (ts.length === 0) return text ? [{ text, mark: false }] : [];
  ts.sort((a, b) => b.length - a.length); // the longest first
  const re = new RegExp(`(?<![\\p{L}\\p{N}])(?:${ts.map(escRe).join('|')})(?![\\p{L}\\p{N}])`, 'giu');
  const out: Seg[] = [];
  let at = 0;
  for (const m of text.matchAll(re)) {
    push(out, text.slice(at, m.index), false);
    push(out, m[0], true);
    at = m.index! + m[0].length;
  }
  push(out, text.slice(at), false);
  return out;
}

/** The words of a query, for marking (the last may be a prefix on the server: kept whole here). */
export function queryTerms(q: string): string[] {
  return q
    .split(/[^\p{L}\p{N}]+/u)
    .map((w) => w.toLowerCase())
    .filter((w) => w.length > 0);
}

/** "p. 4" or "pp. 4–6", "" without pages. */
export function pagesText(from: number | null | undefined, to: number | null | undefined): string {
  const a = from && from > 0 ? from : 0;
  const b = to && to > 0 ? to : a;
  if (!a) return '';
  return b > a ? `pp. ${a}–${b}` : `p. ${a}`;
}

/** Where a passage is: "Chapter 3 > The Danube · pp. 4–6 · part" (what there is of it). */
export function locationText(l: Pick<Location, 'heading' | 'page_from' | 'page_to'> & { part?: string }): string {
  return [l.heading, pagesText(l.page_from, l.page_to), l.part ?? ''].filter((x) => x).join(' · ');
}

/** An answer's text split at its [n] citations (n in known; others stay text). */
export type CitePart = { t: 'text'; v: string } | { t: 'cite'; n: number };

export function splitCitations(text: string, known: Set<number>): CitePart[] {
  const out: CitePart[] = [];
  let at = 0;
  for (const m of text.matchAll(/\[(\d{1,3})\]/g)) {
    const n = Number(m[1]);
    if (!known.has(n)) continue;
    if (m.index! > at) out.push({ t: 'text', v: text.slice(at, m.index) });
    out.push({ t: 'cite', n });
    at = m.index! + m[0].length;
  }
  if (at < text.length) out.push({ t: 'text', v: text.slice(at) });
  return out;
}

/** The sources saved with a message, in their numbers' order; [] when none or malformed. */
export function sourcesOf(settings: unknown): Source[] {
  const s = (settings as { sources?: unknown } | null | undefined)?.sources;
  if (!Array.isArray(s)) return [];
  return s
    .filter((x): x is Source => !!x && typeof x === 'object' && typeof (x as Source).n === 'number' && typeof (x as Source).chunk_id === 'number')
    .sort((a, b) => a.n - b.n);
}

/** Still being indexed: the page asks again while any document is. */
export const pending = (docs: LibDocument[]) => docs.some((d) => d.state === 'queued' || d.state === 'indexing');

/** Tags as typed ("a, b,,c ") to the list the API takes. */
export function parseTags(s: string): string[] {
  const out: string[] = [];
  for (const t of s.split(',')) {
    const v = t.trim();
    if (v && !out.includes(v)) out.push(v);
  }
  return out;
}

/** A size in bytes as people read it. */
export function sizeText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The query string of a search. */
export function searchQuery(q: string, mode: SearchMode | '', collections: number[], limit = 20): string {
  const p = new URLSearchParams({ q });
  if (mode) p.set('mode', mode);
  if (collections.length) p.set('collections', collections.join(','));
  p.set('limit', String(limit));
  return p.toString();
}
