import { describe, expect, it } from 'vitest';
import { SSEParser, readChunk } from './sse';

describe('SSEParser', () => {
  it('parses events split anywhere across chunks', () => {
    const text = 'data: {"a":1}\n\n: ping\n\nevent: x\ndata: one\ndata: two\n\ndata: [DONE]\n\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const p = new SSEParser();
      const evs = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
      expect(evs).toEqual([
        { event: 'message', data: '{"a":1}' },
        { event: 'x', data: 'one\ntwo' },
        { event: 'message', data: '[DONE]' },
      ]);
    }
  });

  it('takes CRLF and CR line ends, and a CRLF split between chunks', () => {
    const p = new SSEParser();
    expect(p.push('data: a\r')).toEqual([]);
    expect(p.push('\n\r\ndata: b\r\r\n')).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
    ]);
  });

  it('keeps an unfinished event until its blank line', () => {
    const p = new SSEParser();
    expect(p.push('data: half')).toEqual([]);
    expect(p.push('\n')).toEqual([]);
    expect(p.push('\n')).toEqual([{ event: 'message', data: 'half' }]);
  });
});

describe('readChunk', () => {
  it('reads content, finish reason, usage, errors and [DONE]', () => {
    expect(readChunk('{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}').content).toBe('Hi');
    expect(readChunk('{"choices":[{"delta":{},"finish_reason":"stop"}]}').finish).toBe('stop');
    expect(readChunk('{"choices":[],"usage":{"completion_tokens":7}}').completionTokens).toBe(7);
    expect(readChunk('{"error":{"message":"model not loaded"}}').error).toBe('model not loaded');
    expect(readChunk('[DONE]').done).toBe(true);
    expect(readChunk('{not json').error).toMatch(/malformed/);
    expect(readChunk('{"choices":[{"delta":{"content":5}}]}').content).toBe('');
  });
});
