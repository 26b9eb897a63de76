import { describe, expect, it } from 'vitest';
import { contextRows, effectiveSources, flagOffsets, flagQuotes, sliceBytes, splitMarks, survivalAnswer, utf8Len } from './memory';
import type { ContextRecord, Flag } from './memory';
import { readChatEvent } from './conv';

const rec: ContextRecord = {
  message_id: 42,
  n_ctx: 4096,
  budget: 3584,
  used: 1210,
  items: [
    { source: 'system', tokens: 40, included: true, reason: 'your instructions' },
    { source: 'style', ref: { style: 'socratic' }, tokens: 95, included: true, reason: 'style Socratic' },
    { source: 'message', ref: { message_id: 12 }, tokens: 800, included: false, reason: 'over the budget' },
    { source: 'summary', ref: { message_id: 55, thread_id: 3 }, tokens: 120, included: true, reason: 'summary of 14 older messages' },
    { source: 'glossary', ref: { glossary_id: 4, term: 'RAII' }, tokens: 30, included: true, reason: "'RAII' appears in the conversation" },
    { source: 'library', ref: { chunk_id: 9, document_id: 2 }, tokens: 210, included: true, reason: 'passage [1] for the question' },
    { source: 'prior', ref: { message_id: 301, conversation_id: 12 }, tokens: 60, included: true, reason: 'similar to your question (0.82)' },
    { source: 'prior', tokens: 0, included: false, reason: 'turned off' },
  ],
};

describe('contextRows', () => {
  it('keeps every item in order with its source, tokens and why', () => {
    const { rows, summary, included, left } = contextRows(rec);
    expect(rows.map((r) => r.source)).toEqual(['system', 'style', 'message', 'summary', 'glossary', 'library', 'prior', 'prior']);
    expect(rows[1]).toMatchObject({ label: 'Style', detail: 'socratic', tokens: 95, included: true, reason: 'style Socratic', off: false });
    expect(rows[2]).toMatchObject({ detail: 'message #12', included: false, off: false });
    expect(rows[3]!.detail).toBe('thread #3, summary #55');
    expect(rows[4]!.detail).toBe('“RAII”');
    expect(rows[5]!.detail).toBe('document #2, passage #9');
    expect(rows[6]!.detail).toBe('conversation #12, message #301');
    expect(rows[7]).toMatchObject({ off: true, included: false, detail: '' });
    expect(included).toBe(6);
    expect(left).toBe(2);
    expect(summary).toBe('1210 of 3584 tokens used (34%) · context 4096 · 6 of 8 items included');
  });
  it('survives an empty record and an unknown source', () => {
    expect(contextRows({ n_ctx: 0, budget: 0, used: 0, items: [] }).summary).toContain('0 of 0 items');
    const r = contextRows({ n_ctx: 1, budget: 1, used: 0, items: [{ source: 'weather', ref: { city: 'Oslo' }, tokens: 3, included: true, reason: 'x' }] });
    expect(r.rows[0]).toMatchObject({ label: 'weather', detail: 'city Oslo' });
  });
});

describe('flagOffsets', () => {
  const content = 'First, **water** boils at 100 °C.  It is always safe to drink.\n\nThe end.';
  it('finds a plain selection as UTF-8 byte offsets', () => {
    const r = flagOffsets(content, 'It is always safe to drink.')!;
    expect(r.quote).toBe('It is always safe to drink.');
    const bytes = new TextEncoder().encode(content);
    expect(new TextDecoder().decode(bytes.slice(r.start, r.end))).toBe('It is always safe to drink.');
    // "°" is two bytes: the byte offset is past the character offset
    expect(r.start).toBe(content.indexOf('It') + 1);
  });
  it('maps a rendered selection across Markdown syntax and spacing', () => {
    const r = flagOffsets(content, 'First, water boils at 100 °C. It')!;
    expect(r.quote).toBe('First, **water** boils at 100 °C.  It');
    expect(r.start).toBe(0);
    expect(r.end).toBe(utf8Len(r.quote));
  });
  it('takes the occurrence nearest to where the selection began', () => {
    const c = 'Go now. Stay here. Go now.';
    expect(flagOffsets(c, 'Go now.', 0)!.start).toBe(0);
    expect(flagOffsets(c, 'Go now.', 0.95)!.start).toBe(19);
  });
  it('answers null for text that is not in the answer, or nothing', () => {
    expect(flagOffsets(content, 'not there')).toBeNull();
    expect(flagOffsets(content, '   ')).toBeNull();
  });
  it('counts astral characters as four bytes', () => {
    const c = '🌊 Rivers flow. Lakes sit.';
    const r = flagOffsets(c, 'Lakes sit.')!;
    expect(r.start).toBe(4 + utf8Len(' Rivers flow. '));
    expect(sliceBytes(c, r.start, r.end)).toBe('Lakes sit.');
  });
});

describe('flag marks', () => {
  const content = 'It is **always** safe. Boil it first.';
  const flags: Flag[] = [
    { id: 1, message_id: 9, start: 0, end: 22, quote: '', note: 'is it?', created_at: 1 },
    { id: 2, message_id: 9, start: 23, end: 37, quote: 'Boil it first.', note: '', created_at: 1 },
  ];
  it('takes quotes from the offsets when the server sent none, without Markdown', () => {
    const q = flagQuotes(content, flags);
    expect(q.map((x) => x.text)).toEqual(['It is always safe.', 'Boil it first.']);
  });
  it('splits rendered text at the quotes', () => {
    const q = flagQuotes(content, flags);
    expect(splitMarks('Boil it first. Then cool.', q)).toEqual([
      { t: 'mark', v: 'Boil it first.', note: '', id: 2 },
      { t: 'text', v: ' Then cool.' },
    ]);
    expect(splitMarks('nothing here', q)).toEqual([{ t: 'text', v: 'nothing here' }]);
  });
});

describe('sources and survival', () => {
  it('a conversation overrides the user defaults', () => {
    expect(effectiveSources({ prior: true }, { library: false })).toEqual({ summaries: true, prior: true, glossary: true, library: false });
  });
  it('reads an answer with its sources', () => {
    expect(survivalAnswer({ answer: 'Boil it [1].', sources: [{ n: 1 }] })).toEqual({ text: 'Boil it [1].', sources: [{ n: 1 }] });
    expect(survivalAnswer({ message: { content: 'x', settings: { sources: [2] } } })).toEqual({ text: 'x', sources: [2] });
    expect(survivalAnswer(null)).toEqual({ text: '', sources: [] });
  });
});

describe('start event (topic shift)', () => {
  const a = { id: 2, content: '' };
  it('carries new_thread', () => {
    const e = readChatEvent('start', JSON.stringify({ assistant_message: a, user_message: { id: 1 }, new_thread: { id: 7, title: 'Boats' } }));
    expect(e.kind === 'start' && e.newThread?.id).toBe(7);
    expect(e.kind === 'start' && e.topicShift).toBeNull();
  });
  it('carries topic_shift', () => {
    const e = readChatEvent('start', JSON.stringify({ assistant_message: a, topic_shift: { distance: 0.71, thread_id: 3 } }));
    expect(e.kind === 'start' && e.topicShift).toEqual({ distance: 0.71, thread_id: 3 });
    expect(e.kind === 'start' && e.newThread).toBeNull();
  });
  it('has neither when the server says nothing', () => {
    const e = readChatEvent('start', JSON.stringify({ assistant_message: a, topic_shift: 'nonsense' }));
    expect(e).toMatchObject({ kind: 'start', newThread: null, topicShift: null });
  });
});
