/**
 * Memory, thinking tools and survival mode (docs/memory.md): the shapes the
 * app reads, and the logic worth testing on its own: a context record as rows
 * for the inspector, byte offsets of a flagged sentence from a text
 * selection (the selection is of the rendered answer, the offsets are of its
 * Markdown source, in UTF-8 bytes), and flags back to quotes to mark.
 */

export type SourceName = 'system' | 'style' | 'message' | 'summary' | 'glossary' | 'library' | 'prior';

/** The enrichment sources a user can turn off (settings.memory / /chat/memory "sources"). */
export const SWITCHABLE: { id: 'summaries' | 'glossary' | 'library' | 'prior'; label: string; source: SourceName }[] = [
  { id: 'summaries', label: 'Thread summaries', source: 'summary' },
  { id: 'glossary', label: 'Glossary', source: 'glossary' },
  { id: 'library', label: 'Library passages', source: 'library' },
  { id: 'prior', label: 'Your other conversations', source: 'prior' },
];
export type SourceSwitches = Partial<Record<'summaries' | 'prior' | 'glossary' | 'library', boolean>>;

export interface MemorySettings {
  system: string;
  sources: Required<SourceSwitches>;
  auto_thread: 'off' | 'suggest' | 'new';
  auto_thread_distance: number;
  summary_after: number;
}

export const DEFAULT_MEMORY: MemorySettings = {
  system: '',
  sources: { summaries: true, prior: false, glossary: true, library: true },
  auto_thread: 'off',
  auto_thread_distance: 0.6,
  summary_after: 20,
};

export interface ContextItem {
  source: SourceName | string;
  ref?: Record<string, unknown>;
  tokens: number;
  included: boolean;
  reason: string;
}

export interface ContextRecord {
  message_id?: number;
  n_ctx: number;
  budget: number;
  used: number;
  items: ContextItem[];
}

export interface Style {
  id: string;
  name: string;
  builtin: boolean;
  description: string;
  prompt: string;
}

export interface GlossaryEntry {
  id: number;
  term: string;
  definition: string;
  created_at: number;
  updated_at: number;
}

export interface Flag {
  id: number;
  message_id: number;
  start: number;
  end: number;
  quote: string;
  note: string;
  created_at: number;
}

export interface Rating {
  confidence: number | null;
  thumbs: 'up' | 'down' | null;
  flags: Flag[];
  updated_at?: number;
}

export type ConvType = 'reflective' | 'analytical' | 'practical' | '';
export const CONV_TYPES: { id: Exclude<ConvType, ''>; label: string }[] = [
  { id: 'reflective', label: 'Reflective' },
  { id: 'analytical', label: 'Analytical' },
  { id: 'practical', label: 'Practical' },
];
export function typeLabel(t: string | undefined): string {
  return CONV_TYPES.find((x) => x.id === t)?.label ?? '';
}

export interface RatingSummary {
  model: string;
  answers_rated: number;
  avg_confidence: number | null;
  thumbs_up: number;
  thumbs_down: number;
  flags: number;
}

export interface SurvivalCategory {
  id: string;
  name: string;
  description: string;
  n_documents: number;
}

/** What the start event of an answer may say about threads (docs/memory.md "Topic shift"). */
export interface TopicShift {
  distance: number;
  thread_id: number;
}

const SOURCE_LABEL: Record<string, string> = {
  system: 'Instructions',
  style: 'Style',
  message: 'Message',
  summary: 'Thread summary',
  glossary: 'Glossary',
  library: 'Library passage',
  prior: 'Other conversation',
};

/** One row of the context inspector. */
export interface ContextRow {
  source: string;
  label: string;
  detail: string;
  tokens: number;
  included: boolean;
  reason: string;
  off: boolean;
}

function refText(source: string, ref: Record<string, unknown> | undefined): string {
  if (!ref) return '';
  const n = (k: string) => (typeof ref[k] === 'number' || typeof ref[k] === 'string' ? String(ref[k]) : '');
  switch (source) {
    case 'style':
      return n('style');
    case 'message':
      return n('message_id') ? `message #${n('message_id')}` : '';
    case 'summary':
      return [n('thread_id') && `thread #${n('thread_id')}`, n('message_id') && `summary #${n('message_id')}`].filter(Boolean).join(', ');
    case 'glossary':
      return n('term') ? `“${n('term')}”` : '';
    case 'library':
      return [n('document_id') && `document #${n('document_id')}`, n('chunk_id') && `passage #${n('chunk_id')}`].filter(Boolean).join(', ');
    case 'prior':
      return [n('conversation_id') && `conversation #${n('conversation_id')}`, n('message_id') && `message #${n('message_id')}`].filter(Boolean).join(', ');
    default:
      return Object.entries(ref)
        .map(([k, v]) => `${k} ${String(v)}`)
        .join(', ');
  }
}

/** The record as rows, in its order, and the totals line. */
export function contextRows(rec: ContextRecord): { rows: ContextRow[]; summary: string; included: number; left: number } {
  const rows = (rec.items ?? []).map((it) => ({
    source: it.source,
    label: SOURCE_LABEL[it.source] ?? it.source,
    detail: refText(it.source, it.ref),
    tokens: Number.isFinite(it.tokens) ? it.tokens : 0,
    included: !!it.included,
    reason: it.reason ?? '',
    off: !it.included && it.reason === 'turned off',
  }));
  const included = rows.filter((r) => r.included).length;
  const pct = rec.budget > 0 ? Math.round((rec.used / rec.budget) * 100) : 0;
  const summary = `${rec.used} of ${rec.budget} tokens used (${pct}%) · context ${rec.n_ctx} · ${included} of ${rows.length} items included`;
  return { rows, summary, included, left: rows.length - included };
}

/** UTF-8 length of a string (offsets on the wire are bytes). */
export function utf8Len(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

/** Characters of Markdown syntax that do not show in the rendered text. */
const SYNTAX = new Set(['*', '_', '`', '#', '>', '~']);

/**
 * The content with Markdown syntax dropped and white space runs as one
 * space, lower case, with, for each of its characters, the index (in UTF-16
 * units) of the character of the content it came from.
 */
function normalize(s: string, dropSyntax: boolean): { text: string; at: number[] } {
  let text = '';
  const at: number[] = [];
  let space = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (dropSyntax && SYNTAX.has(c)) continue;
    if (/\s/.test(c)) {
      if (!space && text.length > 0) {
        text += ' ';
        at.push(i);
      }
      space = true;
      continue;
    }
    space = false;
    for (const l of c.toLowerCase()) {
      text += l;
      at.push(i);
    }
  }
  if (text.endsWith(' ')) {
    text = text.slice(0, -1);
    at.pop();
  }
  return { text, at };
}

/**
 * Byte offsets [start, end) in content of the selected text (what the
 * browser's selection of the rendered answer gives), or null when it is not
 * found there. Markdown syntax and spacing may differ between the two; when
 * the text is there more than once, the occurrence nearest to hint (a
 * fraction 0..1 of the way through the answer, where the selection began)
 * wins.
 */
export function flagOffsets(content: string, selected: string, hint = 0): { start: number; end: number; quote: string } | null {
  const sel = normalize(selected, true).text;
  if (!sel) return null;
  const c = normalize(content, true);
  const found: number[] = [];
  for (let i = c.text.indexOf(sel); i >= 0; i = c.text.indexOf(sel, i + 1)) found.push(i);
  if (found.length === 0) return null;
  const want = hint * c.text.length;
  const best = found.reduce((a, b) => (Math.abs(b - want) < Math.abs(a - want) ? b : a));
  const from = c.at[best]!;
  const to = c.at[best + sel.length - 1]! + 1;
  // a surrogate pair ends where it ends
  const end = to < content.length && /[\uDC00-\uDFFF]/.test(content[to]!) ? to + 1 : to;
  return { start: utf8Len(content.slice(0, from)), end: utf8Len(content.slice(0, end)), quote: content.slice(from, end) };
}

/** The text of content between byte offsets (a flag's quote, when the server sent none). */
export function sliceBytes(content: string, start: number, end: number): string {
  const bytes = new TextEncoder().encode(content);
  if (start < 0 || end > bytes.length || start >= end) return '';
  return new TextDecoder().decode(bytes.slice(start, end));
}

/** The quotes to mark in a rendered answer: as shown (no Markdown syntax), longest first. */
export function flagQuotes(content: string, flags: Flag[]): { text: string; note: string; id: number }[] {
  return flags
    .map((f) => {
      const q = f.quote || sliceBytes(content, f.start, f.end);
      const text = [...q].filter((ch) => !SYNTAX.has(ch)).join('').replace(/\s+/g, ' ').trim();
      return { text, note: f.note, id: f.id };
    })
    .filter((q) => q.text.length > 0)
    .sort((a, b) => b.text.length - a.text.length);
}

/** A run of text for the view: marked (a flagged quote) or not. */
export type MarkPart = { t: 'text'; v: string } | { t: 'mark'; v: string; note: string; id: number };

/** Splits a text node of the rendered answer at the flagged quotes in it (case and spacing as shown). */
export function splitMarks(v: string, quotes: { text: string; note: string; id: number }[]): MarkPart[] {
  if (quotes.length === 0 || !v) return [{ t: 'text', v }];
  const low = v.toLowerCase();
  for (const q of quotes) {
    const i = low.indexOf(q.text.toLowerCase());
    if (i < 0) continue;
    const out: MarkPart[] = [];
    if (i > 0) out.push(...splitMarks(v.slice(0, i), quotes));
    out.push({ t: 'mark', v: v.slice(i, i + q.text.length), note: q.note, id: q.id });
    const rest = v.slice(i + q.text.length);
    if (rest) out.push(...splitMarks(rest, quotes));
    return out;
  }
  return [{ t: 'text', v }];
}

/** The sources a conversation's settings.memory (or the user's defaults) leave on. */
export function effectiveSources(defaults: SourceSwitches, conv: SourceSwitches | undefined): Required<SourceSwitches> {
  return { ...DEFAULT_MEMORY.sources, ...defaults, ...(conv ?? {}) };
}

/** A survival answer (POST /survival/ask, not streamed): its text and sources, whatever the exact wrapper. */
export function survivalAnswer(r: unknown): { text: string; sources: unknown } {
  const o = (r && typeof r === 'object' ? r : {}) as Record<string, unknown>;
  const msg = (o.message && typeof o.message === 'object' ? o.message : null) as Record<string, unknown> | null;
  const choice = Array.isArray(o.choices) ? ((o.choices[0] as Record<string, unknown> | undefined)?.message as Record<string, unknown> | undefined) : undefined;
  const text =
    (typeof o.answer === 'string' && o.answer) ||
    (typeof o.content === 'string' && o.content) ||
    (msg && typeof msg.content === 'string' && msg.content) ||
    (choice && typeof choice.content === 'string' && choice.content) ||
    '';
  const settings = msg?.settings as Record<string, unknown> | undefined;
  const sources = o.sources ?? settings?.sources ?? [];
  return { text, sources };
}
