/**
 * Incremental parser for text/event-stream (the WHATWG rules we need):
 * events end at a blank line; `data:` lines join with "\n"; lines starting
 * with ":" are comments (keep-alive pings); "\r\n", "\r" and "\n" all end a
 * line. Feed it decoded text as it arrives; it returns the complete events.
 */
export interface SSEEvent {
  event: string;
  data: string;
}

export class SSEParser {
  private buf = '';
  private data: string[] = [];
  private event = '';

  push(chunk: string): SSEEvent[] {
    this.buf += chunk;
    const out: SSEEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // a lone "\r" at the end may be the first half of "\r\n": wait for more
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      if (line === '') {
        if (this.data.length) out.push({ event: this.event || 'message', data: this.data.join('\n') });
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
    }
    return out;
  }
}

/** What one OpenAI chat.completion.chunk tells us. */
export interface ChunkInfo {
  content: string;
  finish: string | null;
  completionTokens: number | null;
  error: string | null;
  done: boolean;
}

export function readChunk(data: string): ChunkInfo {
  if (data === '[DONE]') return { content: '', finish: null, completionTokens: null, error: null, done: true };
  let o: unknown;
  try {
    o = JSON.parse(data);
  } catch {
    return { content: '', finish: null, completionTokens: null, error: 'malformed event from the server', done: false };
  }
  const c = o as {
    choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[];
    usage?: { completion_tokens?: unknown };
    error?: { message?: unknown };
  };
  const ch = c.choices?.[0];
  const content = typeof ch?.delta?.content === 'string' ? ch.delta.content : '';
  const finish = typeof ch?.finish_reason === 'string' ? ch.finish_reason : null;
  const ct = c.usage?.completion_tokens;
  const err = c.error?.message;
  return {
    content,
    finish,
    completionTokens: typeof ct === 'number' ? ct : null,
    error: typeof err === 'string' ? err : null,
    done: false,
  };
}
