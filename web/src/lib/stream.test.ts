import { describe, expect, it } from 'vitest';
import type { ChatEvent } from './conv';
import { readEvents } from './stream';

function body(parts: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(enc.encode(p));
      c.close();
    },
  });
}

describe('readEvents', () => {
  it('hands over the events of a stream split anywhere, multi-byte text included', async () => {
    const a = { id: 2, content: '' };
    const text =
      `event: start\ndata: ${JSON.stringify({ user_message: { id: 1 }, assistant_message: a })}\n\n` +
      ': ping\n\n' +
      'event: delta\ndata: {"content":"héllo 🌍"}\n\n' +
      `event: end\ndata: ${JSON.stringify({ message: { id: 2, content: 'héllo 🌍' }, usage: { completion_tokens: 3 } })}\n\n`;
    const bytes = new TextEncoder().encode(text);
    for (const cut of [1, 7, 60, bytes.length - 3]) {
      const got: ChatEvent[] = [];
      const dec = new TextDecoder();
      // split the bytes, even inside a character
      const s = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(bytes.slice(0, cut));
          c.enqueue(bytes.slice(cut));
          c.close();
        },
      });
      await readEvents(s, (e) => got.push(e));
      void dec;
      expect(got.map((e) => e.kind)).toEqual(['start', 'delta', 'end']);
      expect(got[1]).toEqual({ kind: 'delta', content: 'héllo 🌍' });
    }
  });
  it('takes a last event the server did not end with a blank line', async () => {
    const got: ChatEvent[] = [];
    await readEvents(body(['event: delta\ndata: {"content":"a"}']), (e) => got.push(e));
    expect(got).toEqual([{ kind: 'delta', content: 'a' }]);
  });
});
