/**
 * One answer of a kept conversation, streamed: POST the route, read the
 * event stream, hand each event to the caller. A refusal before anything is
 * saved (400, 404, 429, 503) is thrown as an ApiError; a failure after the
 * start arrives as an error event. Stopping is aborting the signal: the
 * server keeps the text so far as an incomplete answer.
 */
import type { Session } from './api';
import { errorOf } from './api';
import type { ChatEvent } from './conv';
import { readChatEvent } from './conv';
import { SSEParser } from './sse';

export async function streamAnswer(
  s: Session,
  path: string,
  body: Record<string, unknown>,
  signal: AbortSignal,
  onEvent: (e: ChatEvent) => void,
): Promise<void> {
  const r = await s.fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ ...body, stream: true }),
    signal,
  });
  if (!r.ok || !r.body) throw await errorOf(r);
  await readEvents(r.body, onEvent);
}

/** The chat events of a text/event-stream body, in order. */
export async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (e: ChatEvent) => void): Promise<void> {
  const reader = body.getReader();
  const dec = new TextDecoder();
  const sse = new SSEParser();
  for (;;) {
    const { value, done } = await reader.read();
    const text = done ? dec.decode() + '\n\n' : dec.decode(value, { stream: true });
    for (const ev of sse.push(text)) {
      const e = readChatEvent(ev.event, ev.data);
      if (e.kind !== 'ignored') onEvent(e);
    }
    if (done) break;
  }
}
