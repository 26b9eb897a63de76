/**
 * A small Markdown reader for model output. It builds a tree of plain
 * objects; the view turns them into elements with text nodes only, so
 * nothing in a model's answer is ever parsed as HTML: `<script>` and
 * `<img onerror=...>` are shown as the characters they are. Links keep only
 * http(s) and mailto targets. Covers what chat answers use: fenced code
 * (an unterminated fence while streaming is code up to the end), headings,
 * lists, quotes, tables (GitHub's pipes), paragraphs, `code`, **bold**,
 * *italic*, [links](url).
 */
export type Inline =
  | { t: 'text'; v: string }
  | { t: 'code'; v: string }
  | { t: 'b'; c: Inline[] }
  | { t: 'i'; c: Inline[] }
  | { t: 'a'; href: string; c: Inline[] }
  | { t: 'br' };

export type Block =
  | { t: 'p'; c: Inline[] }
  | { t: 'h'; level: number; c: Inline[] }
  | { t: 'pre'; lang: string; v: string }
  | { t: 'ul'; items: Inline[][] }
  | { t: 'ol'; start: number; items: Inline[][] }
  | { t: 'quote'; c: Block[] }
  | { t: 'table'; align: ('left' | 'center' | 'right' | '')[]; head: Inline[][]; rows: Inline[][][] };

const SAFE_URL = /^(https?:\/\/|mailto:)[^\s]*$/i;

export function parseInline(s: string): Inline[] {
  const out: Inline[] = [];
  let text = '';
  const flush = () => {
    if (text) out.push({ t: 'text', v: text });
    text = '';
  };
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === '`') {
      const end = s.indexOf('`', i + 1);
      if (end > i) {
        flush();
        out.push({ t: 'code', v: s.slice(i + 1, end) });
        i = end + 1;
        continue;
      }
    }
    if ((ch === '*' || ch === '_') && s[i + 1] === ch) {
      const end = s.indexOf(ch + ch, i + 2);
      if (end > i + 2) {
        flush();
        out.push({ t: 'b', c: parseInline(s.slice(i + 2, end)) });
        i = end + 2;
        continue;
      }
    }
    if ((ch === '*' || ch === '_') && s[i + 1] !== ch && s[i + 1] !== ' ' && s[i + 1] !== undefined) {
      const end = s.indexOf(ch, i + 1);
      if (end > i + 1 && s[end - 1] !== ' ') {
        flush();
        out.push({ t: 'i', c: parseInline(s.slice(i + 1, end)) });
        i = end + 1;
        continue;
      }
    }
    if (ch === '[') {
      const m = /^\[([^\]]*)\]\(((?:[^()\s]|\([^()\s]*\))*)\)/.exec(s.slice(i)); // one level of (parens) in URLs
      if (m) {
        flush();
        const label = parseInline(m[1]!);
        if (SAFE_URL.test(m[2]!)) out.push({ t: 'a', href: m[2]!, c: label });
        else out.push(...label); // an unsafe target keeps its words, loses the link
        i += m[0].length;
        continue;
      }
    }
    if (ch === '\n') {
      flush();
      out.push({ t: 'br' });
      i++;
      continue;
    }
    text += ch;
    i++;
  }
  flush();
  return out;
}

const TABLE_SEP = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

/** The cells of a table row: split at pipes not escaped, outer pipes dropped. */
function cells(row: string): string[] {
  let r = row.trim();
  if (r.startsWith('|')) r = r.slice(1);
  if (r.endsWith('|') && !r.endsWith('\\|')) r = r.slice(0, -1);
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < r.length; i++) {
    if (r[i] === '\\' && r[i + 1] === '|') {
      cur += '|';
      i++;
    } else if (r[i] === '|') {
      out.push(cur.trim());
      cur = '';
    } else cur += r[i];
  }
  out.push(cur.trim());
  return out;
}

export function parseMarkdown(src: string): Block[] {
  const lines = src.replace(/\r\n?/g, '\n').split('\n');
  const out: Block[] = [];
  let para: string[] = [];
  const endPara = () => {
    if (para.length) out.push({ t: 'p', c: parseInline(para.join('\n')) });
    para = [];
  };
  for (let i = 0; i < lines.length; ) {
    const line = lines[i]!;
    const fence = /^\s*(```|~~~)\s*([\w+-]*)\s*$/.exec(line);
    if (fence) {
      endPara();
      const code: string[] = [];
      i++;
      while (i < lines.length && !lines[i]!.trimStart().startsWith(fence[1]!)) code.push(lines[i++]!);
      i++; // the closing fence (or past the end while streaming)
      out.push({ t: 'pre', lang: fence[2] ?? '', v: code.join('\n') });
      continue;
    }
    if (line.includes('|') && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]!)) {
      endPara();
      const head = cells(line);
      const align = cells(lines[i + 1]!).map((c) => {
        const l = c.startsWith(':'), r = c.endsWith(':');
        return l && r ? 'center' : r ? 'right' : l ? 'left' : '';
      }) as ('left' | 'center' | 'right' | '')[];
      i += 2;
      const rows: Inline[][][] = [];
      while (i < lines.length && lines[i]!.includes('|') && lines[i]!.trim() !== '') {
        const r = cells(lines[i++]!);
        rows.push(head.map((_, k) => parseInline(r[k] ?? '')));
      }
      out.push({ t: 'table', align: head.map((_, k) => align[k] ?? ''), head: head.map((c) => parseInline(c)), rows });
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) {
      endPara();
      out.push({ t: 'h', level: h[1]!.length, c: parseInline(h[2]!) });
      i++;
      continue;
    }
    if (/^\s*[-*+]\s+/.test(line)) {
      endPara();
      const items: Inline[][] = [];
      while (i < lines.length && /^\s*[-*+]\s+/.test(lines[i]!))
        items.push(parseInline(lines[i++]!.replace(/^\s*[-*+]\s+/, '')));
      out.push({ t: 'ul', items });
      continue;
    }
    const ol = /^\s*(\d+)[.)]\s+/.exec(line);
    if (ol) {
      endPara();
      const items: Inline[][] = [];
      while (i < lines.length && /^\s*\d+[.)]\s+/.test(lines[i]!))
        items.push(parseInline(lines[i++]!.replace(/^\s*\d+[.)]\s+/, '')));
      out.push({ t: 'ol', start: Number(ol[1]), items });
      continue;
    }
    if (/^\s*>/.test(line)) {
      endPara();
      const quoted: string[] = [];
      while (i < lines.length && /^\s*>/.test(lines[i]!)) quoted.push(lines[i++]!.replace(/^\s*>\s?/, ''));
      out.push({ t: 'quote', c: parseMarkdown(quoted.join('\n')) });
      continue;
    }
    if (line.trim() === '') {
      endPara();
      i++;
      continue;
    }
    para.push(line);
    i++;
  }
  endPara();
  return out;
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function inlineHTML(c: Inline[]): string {
  return c
    .map((n) => {
      switch (n.t) {
        case 'text':
          return esc(n.v);
        case 'code':
          return `<code>${esc(n.v)}</code>`;
        case 'b':
          return `<strong>${inlineHTML(n.c)}</strong>`;
        case 'i':
          return `<em>${inlineHTML(n.c)}</em>`;
        case 'a':
          return `<a href="${esc(n.href)}">${inlineHTML(n.c)}</a>`;
        case 'br':
          return '<br>';
      }
    })
    .join('');
}

/** The tree as escaped HTML text: what the view's elements amount to (for tests). */
export function toHTML(blocks: Block[]): string {
  return blocks
    .map((b) => {
      switch (b.t) {
        case 'p':
          return `<p>${inlineHTML(b.c)}</p>`;
        case 'h':
          return `<h${b.level}>${inlineHTML(b.c)}</h${b.level}>`;
        case 'pre':
          return `<pre><code>${esc(b.v)}</code></pre>`;
        case 'ul':
          return `<ul>${b.items.map((it) => `<li>${inlineHTML(it)}</li>`).join('')}</ul>`;
        case 'ol':
          return `<ol start="${b.start}">${b.items.map((it) => `<li>${inlineHTML(it)}</li>`).join('')}</ol>`;
        case 'quote':
          return `<blockquote>${toHTML(b.c)}</blockquote>`;
        case 'table':
          return `<table><thead><tr>${b.head.map((c) => `<th>${inlineHTML(c)}</th>`).join('')}</tr></thead><tbody>${b.rows
            .map((r) => `<tr>${r.map((c) => `<td>${inlineHTML(c)}</td>`).join('')}</tr>`)
            .join('')}</tbody></table>`;
      }
    })
    .join('');
}
