import { describe, expect, it } from 'vitest';
import type { LibDocument } from './library';
import { parseInline } from './markdown';
import {
  locationText,
  markTerms,
  markedTerms,
  pagesText,
  parseTags,
  pending,
  queryTerms,
  searchQuery,
  snippetFromHtml,
  snippetFromMarkers,
  sourcesOf,
  splitCitations,
  unescapeHtml,
} from './library';

describe('snippets', () => {
  it('reads the server <mark> snippet as text runs, unescaping once', () => {
    expect(snippetFromHtml('the <mark>Danube</mark> &amp; the <mark>Rhine</mark>.')).toEqual([
      { text: 'the ', mark: false },
      { text: 'Danube', mark: true },
      { text: ' & the ', mark: false },
      { text: 'Rhine', mark: true },
      { text: '.', mark: false },
    ]);
  });
  it('never turns escaped markup into tags', () => {
    const segs = snippetFromHtml('&lt;script&gt;alert(1)&lt;/script&gt; <mark>x</mark> &amp;lt;b&amp;gt;');
    expect(segs[0]).toEqual({ text: '<script>alert(1)</script> ', mark: false });
    expect(segs[1]).toEqual({ text: 'x', mark: true });
    // double-escaped stays escaped once: the reader sees what the book said
    expect(segs[2]).toEqual({ text: ' &lt;b&gt;', mark: false });
  });
  it('keeps raw tags other than mark as the characters they are', () => {
    expect(snippetFromHtml('<b>bold</b> <img src=x onerror=alert(1)>')).toEqual([{ text: '<b>bold</b> <img src=x onerror=alert(1)>', mark: false }]);
  });
  it('reads U+0002/U+0003 markers of a saved source', () => {
    expect(snippetFromMarkers('…the \u0002Danube\u0003 flows <east>…')).toEqual([
      { text: '…the ', mark: false },
      { text: 'Danube', mark: true },
      { text: ' flows <east>…', mark: false },
    ]);
    expect(snippetFromMarkers('')).toEqual([]);
    expect(snippetFromMarkers('\u0002a\u0003\u0002b\u0003')).toEqual([{ text: 'ab', mark: true }]);
  });
  it('unescapes numeric entities and leaves unknown ones', () => {
    expect(unescapeHtml('&#39;&#x41;&nbsp;&#0;')).toBe("'A&nbsp;&#0;");
  });
});

describe('marking a passage', () => {
  it('marks whole words, case-insensitive, the longest first', () => {
    const segs = markTerms('Danube and danube-side, not Danubes', ['danube']);
    expect(segs.filter((s) => s.mark).map((s) => s.text)).toEqual(['Danube', 'danube']);
    expect(segs.map((s) => s.text).join('')).toBe('Danube and danube-side, not Danubes');
  });
  it('is safe with regex characters and no terms', () => {
    expect(markTerms('a (b) c', ['(b)']).filter((s) => s.mark).map((s) => s.text)).toEqual(['(b)']);
    expect(markTerms('abc', [])).toEqual([{ text: 'abc', mark: false }]);
  });
  it('takes the marked words of a snippet and the words of a query', () => {
    expect(markedTerms(snippetFromHtml('<mark>Zebra</mark> x <mark>zebra</mark> <mark>Quokka</mark>'))).toEqual(['zebra', 'quokka']);
    expect(queryTerms('  river, Delta!')).toEqual(['river', 'delta']);
  });
});

describe('locations and citations', () => {
  it('says pages and headings', () => {
    expect(pagesText(0, 0)).toBe('');
    expect(pagesText(4, 4)).toBe('p. 4');
    expect(pagesText(4, 6)).toBe('pp. 4–6');
    expect(pagesText(null, null)).toBe('');
    expect(locationText({ heading: 'Ch 3 > Danube', page_from: 2, page_to: 3 })).toBe('Ch 3 > Danube · pp. 2–3');
    expect(locationText({ heading: '', page_from: 0, page_to: 0 })).toBe('');
  });
  it('splits [n] citations that are known sources only', () => {
    expect(splitCitations('A [1] and [2][3], not [9] or [x].', new Set([1, 2, 3]))).toEqual([
      { t: 'text', v: 'A ' },
      { t: 'cite', n: 1 },
      { t: 'text', v: ' and ' },
      { t: 'cite', n: 2 },
      { t: 'cite', n: 3 },
      { t: 'text', v: ', not [9] or [x].' },
    ]);
    expect(splitCitations('none', new Set())).toEqual([{ t: 'text', v: 'none' }]);
  });
  it('finds [n] in the text runs the Markdown reader leaves (not taken as links)', () => {
    const runs = parseInline('The river [1] flows **east [2]**.')
      .flatMap((n) => (n.t === 'text' ? [n.v] : n.t === 'b' ? n.c.flatMap((m) => (m.t === 'text' ? [m.v] : [])) : []))
      .flatMap((v) => splitCitations(v, new Set([1, 2])))
      .filter((p) => p.t === 'cite')
      .map((p) => (p.t === 'cite' ? p.n : 0));
    expect(runs).toEqual([1, 2]);
  });
  it('reads sources from message settings in number order, ignoring junk', () => {
    const s = sourcesOf({ sources: [{ n: 2, chunk_id: 9 }, { n: 1, chunk_id: 8 }, { n: 'x' }, null] });
    expect(s.map((x) => x.n)).toEqual([1, 2]);
    expect(sourcesOf(undefined)).toEqual([]);
    expect(sourcesOf({ sources: 'no' })).toEqual([]);
  });
});

describe('forms', () => {
  it('parses tags', () => {
    expect(parseTags(' physics, ,maths,physics ')).toEqual(['physics', 'maths']);
    expect(parseTags('')).toEqual([]);
  });
  it('knows when documents are still indexing', () => {
    const d = (state: LibDocument['state']) => ({ state }) as LibDocument;
    expect(pending([d('ready'), d('error')])).toBe(false);
    expect(pending([d('ready'), d('queued')])).toBe(true);
    expect(pending([d('indexing')])).toBe(true);
  });
  it('builds the search query', () => {
    expect(searchQuery('a b&c', 'fulltext', [3, 5], 10)).toBe('q=a+b%26c&mode=fulltext&collections=3%2C5&limit=10');
    expect(searchQuery('x', '', [])).toBe('q=x&limit=20');
  });
});
