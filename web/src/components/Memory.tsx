/**
 * The memory and thinking tools of a conversation (docs/memory.md): an
 * answer's rating bar (confidence slider, thumbs, assumption flags), the
 * context inspector (what went into a prompt, and the switches for each
 * source), the style picker, and a thread's summary.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Session } from '../lib/api';
import { call } from '../lib/api';
import type { Message, Thread } from '../lib/conv';
import type { ContextRecord, Flag, Rating, SourceSwitches, Style } from '../lib/memory';
import { SWITCHABLE, contextRows, flagOffsets } from '../lib/memory';
import { Markdown } from './Markdown';

const small =
  'rounded px-2 py-0.5 text-xs text-zinc-700 hover:bg-zinc-200 focus-visible:outline-2 focus-visible:outline-amber-600 disabled:opacity-70 dark:text-zinc-300 dark:hover:bg-zinc-700';
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));
export const EMPTY_RATING: Rating = { confidence: null, thumbs: null, flags: [] };

/** Where the reader's selection is, if inside el: its text and how far into el it starts (0..1). */
export function selectionIn(el: HTMLElement | null): { text: string; hint: number } | null {
  const sel = window.getSelection();
  if (!el || !sel || sel.isCollapsed || sel.rangeCount === 0) return null;
  const range = sel.getRangeAt(0);
  if (!el.contains(range.startContainer) || !el.contains(range.endContainer)) return null;
  const before = document.createRange();
  before.setStart(el, 0);
  before.setEnd(range.startContainer, range.startOffset);
  const total = el.textContent?.length || 1;
  return { text: sel.toString(), hint: Math.min(1, before.toString().length / total) };
}

/** Under an answer: confidence 0–100, thumbs up/down, and the flags of its assumptions. */
export function RatingBar(props: {
  session: Session;
  m: Message;
  rating: Rating;
  selection: { text: string; hint: number } | null;
  onRating: (r: Rating) => void;
}) {
  const { session, m, rating, selection } = props;
  const [conf, setConf] = useState<number>(rating.confidence ?? 50);
  const [error, setError] = useState('');
  const [flagging, setFlagging] = useState<{ start: number; end: number; quote: string } | null>(null);
  const [note, setNote] = useState('');
  const noteBox = useRef<HTMLTextAreaElement>(null);
  useEffect(() => setConf(rating.confidence ?? 50), [rating.confidence]);
  useEffect(() => {
    if (flagging) noteBox.current?.focus();
  }, [flagging]);
  const put = async (body: { confidence?: number | null; thumbs?: 'up' | 'down' | null }) => {
    try {
      const r = await call<Rating>(session, 'PUT', `/chat/messages/${m.id}/rating`, body);
      props.onRating({ ...rating, ...r, flags: r.flags ?? rating.flags });
      setError('');
    } catch (e) {
      setError(errText(e));
    }
  };
  const startFlag = () => {
    if (!selection) {
      setError('Select a sentence of the answer first, then flag it.');
      return;
    }
    const at = flagOffsets(m.content, selection.text, selection.hint);
    if (!at) {
      setError('That selection is not in the answer’s text; select within one answer.');
      return;
    }
    setError('');
    setNote('');
    setFlagging(at);
  };
  const saveFlag = async () => {
    if (!flagging) return;
    try {
      const f = await call<Flag>(session, 'POST', `/chat/messages/${m.id}/flags`, { start: flagging.start, end: flagging.end, note: note.trim() });
      props.onRating({ ...rating, flags: [...rating.flags, { ...f, quote: f.quote || flagging.quote }] });
      setFlagging(null);
      setError('');
    } catch (e) {
      setError(errText(e));
    }
  };
  const unflag = async (f: Flag) => {
    try {
      await call(session, 'DELETE', `/chat/flags/${f.id}`);
      props.onRating({ ...rating, flags: rating.flags.filter((x) => x.id !== f.id) });
    } catch (e) {
      setError(errText(e));
    }
  };
  const thumb = (t: 'up' | 'down') => void put({ thumbs: rating.thumbs === t ? null : t });
  return (
    <div class="rating mt-1 border-t border-zinc-300 pt-1 text-xs dark:border-zinc-700" role="group" aria-label="Rate this answer">
      <div class="flex flex-wrap items-center gap-2">
        <label class="flex items-center gap-1">
          <span>Confidence</span>
          <input
            type="range"
            class="confidence w-28 accent-amber-700"
            min="0"
            max="100"
            step="1"
            value={conf}
            aria-valuetext={rating.confidence === null ? `not rated (${conf})` : `${conf} of 100`}
            onInput={(e) => setConf(Number(e.currentTarget.value))}
            onChange={(e) => void put({ confidence: Number(e.currentTarget.value) })}
          />
          <span class="confidence-value w-16 tabular-nums">{rating.confidence === null ? 'not rated' : `${rating.confidence}/100`}</span>
        </label>
        <button type="button" class={small} aria-pressed={rating.thumbs === 'up'} aria-label="Thumbs up" onClick={() => thumb('up')}>
          ▲ Up{rating.thumbs === 'up' ? ' ✓' : ''}
        </button>
        <button type="button" class={small} aria-pressed={rating.thumbs === 'down'} aria-label="Thumbs down" onClick={() => thumb('down')}>
          ▼ Down{rating.thumbs === 'down' ? ' ✓' : ''}
        </button>
        <button
          type="button"
          class={small}
          title="Select a sentence of the answer, then flag it as an assumption"
          onMouseDown={(e) => e.preventDefault() /* keep the selection */}
          onClick={startFlag}
        >
          Flag as assumption
        </button>
      </div>
      {flagging && (
        <form
          class="flag-form mt-1 space-y-1"
          aria-label="Flag an assumption"
          onSubmit={(e) => {
            e.preventDefault();
            void saveFlag();
          }}
        >
          <p>
            Flag: <q class="italic">{flagging.quote}</q>
          </p>
          <label class="block">
            Note (why is it an assumption?)
            <textarea
              ref={noteBox}
              rows={2}
              class="mt-0.5 block w-full rounded border border-zinc-400 bg-white px-2 py-1 text-sm dark:bg-zinc-900"
              value={note}
              onInput={(e) => setNote(e.currentTarget.value)}
              onKeyDown={(e) => e.key === 'Escape' && (e.stopPropagation(), setFlagging(null))}
            />
          </label>
          <div class="flex gap-2">
            <button type="submit" class="rounded bg-amber-800 px-2 py-0.5 text-white">
              Save flag
            </button>
            <button type="button" class="underline" onClick={() => setFlagging(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {rating.flags.length > 0 && (
        <ul class="flags mt-1 space-y-0.5" aria-label="Assumptions flagged">
          {rating.flags.map((f) => (
            <li key={f.id} class="flag-item flex items-start gap-1" data-flag={f.id}>
              <span class="min-w-0 flex-1">
                <mark class="rounded bg-amber-200 px-0.5 text-zinc-900 dark:bg-amber-700 dark:text-white">{f.quote}</mark>
                {f.note && <span class="ml-1 text-zinc-700 dark:text-zinc-300">— {f.note}</span>}
              </span>
              <button type="button" class={small} aria-label={`Remove the flag “${f.quote.slice(0, 40)}”`} onClick={() => void unflag(f)}>
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p role="alert" class="mt-1 text-red-800 dark:text-red-300">
          {error}
        </p>
      )}
    </div>
  );
}

/** Switches for each source of a prompt (a conversation's settings.memory, or the user's defaults). */
export function SourceSwitchesView(props: { value: Required<SourceSwitches>; onChange: (s: SourceSwitches) => void; legend: string; disabled?: boolean }) {
  return (
    <fieldset class="source-switches flex flex-wrap gap-x-4 gap-y-1 text-sm" disabled={props.disabled}>
      <legend class="mb-1 font-medium">{props.legend}</legend>
      {SWITCHABLE.map((s) => (
        <label key={s.id} class="flex items-center gap-1">
          <input type="checkbox" name={`source-${s.id}`} checked={props.value[s.id]} onChange={(e) => props.onChange({ [s.id]: e.currentTarget.checked })} />
          {s.label}
        </label>
      ))}
    </fieldset>
  );
}

/**
 * The context inspector: every item that went into (or was left out of) a
 * prompt, with its source, tokens and why; load answers the record. The
 * switches change the conversation's own sources (later answers, and the
 * preview again).
 */
export function ContextInspector(props: {
  title: string;
  load: () => Promise<ContextRecord>;
  sources: Required<SourceSwitches> | null;
  onSources?: (s: SourceSwitches) => Promise<void>;
  onClose: () => void;
}) {
  const dlg = useRef<HTMLDialogElement>(null);
  const [rec, setRec] = useState<ContextRecord | null>(null);
  const [error, setError] = useState('');
  const [n, setN] = useState(0);
  useEffect(() => {
    const back = document.activeElement as HTMLElement | null;
    dlg.current?.showModal();
    return () => back?.focus?.();
  }, []);
  useEffect(() => {
    let gone = false;
    setError('');
    props.load().then(
      (r) => !gone && setRec(r),
      (e: unknown) => !gone && setError(errText(e)),
    );
    return () => {
      gone = true;
    };
  }, [n]);
  const view = rec ? contextRows(rec) : null;
  const cell = 'border-b border-zinc-300 px-2 py-1 text-left align-top dark:border-zinc-700';
  return (
    <dialog
      ref={dlg}
      aria-labelledby="ctx-title"
      class="context-inspector m-auto max-h-[90dvh] w-[min(56rem,95vw)] rounded-lg border border-zinc-300 bg-white p-0 text-zinc-900 backdrop:bg-black/50 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100"
      onClose={props.onClose}
      onClick={(e) => e.target === dlg.current && dlg.current?.close()}
    >
      <div class="flex max-h-[90dvh] flex-col">
        <header class="flex items-start gap-2 border-b border-zinc-300 px-4 py-3 dark:border-zinc-700">
          <h2 id="ctx-title" class="min-w-0 flex-1 font-semibold">
            {props.title}
          </h2>
          <button type="button" class="rounded px-2 py-1 hover:bg-zinc-200 dark:hover:bg-zinc-800" aria-label="Close the context inspector" onClick={() => dlg.current?.close()}>
            ✕
          </button>
        </header>
        <div class="min-h-0 flex-1 overflow-y-auto px-4 py-3">
          {error && (
            <p role="alert" class="rounded bg-red-100 px-2 py-1 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
              {error}
            </p>
          )}
          {!rec && !error && <p>Loading…</p>}
          {view && (
            <>
              <p class="context-summary mb-2 text-sm">{view.summary}</p>
              <div class="overflow-x-auto">
                <table class="context-items w-full text-sm">
                  <thead>
                    <tr>
                      <th class={cell}>Source</th>
                      <th class={cell}>What</th>
                      <th class={cell}>Tokens</th>
                      <th class={cell}>In the prompt</th>
                      <th class={cell}>Why</th>
                    </tr>
                  </thead>
                  <tbody>
                    {view.rows.map((r, i) => (
                      <tr key={i} class="context-item" data-source={r.source} data-included={r.included ? 'yes' : 'no'}>
                        <td class={cell}>{r.label}</td>
                        <td class={cell}>{r.detail}</td>
                        <td class={`${cell} tabular-nums`}>{r.tokens}</td>
                        <td class={cell}>{r.included ? 'included' : r.off ? 'off' : 'left out'}</td>
                        <td class={cell}>{r.reason}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </>
          )}
          {props.sources && props.onSources && (
            <div class="mt-4">
              <SourceSwitchesView
                legend="Sources for this conversation"
                value={props.sources}
                onChange={(s) =>
                  void props.onSources!(s).then(
                    () => setN((x) => x + 1),
                    (e: unknown) => setError(errText(e)),
                  )
                }
              />
              <p class="mt-1 text-xs text-zinc-700 dark:text-zinc-300">These apply to the next answers of this conversation; your defaults are on the Settings page.</p>
            </div>
          )}
        </div>
      </div>
    </dialog>
  );
}

/** A style's name with its instructions readable. */
export function StyleInfo({ style, onClose }: { style: Style; onClose: () => void }) {
  return (
    <div class="style-info mt-1 rounded-md border border-zinc-300 bg-zinc-50 p-2 text-sm dark:border-zinc-700 dark:bg-zinc-900" role="region" aria-label={`Style ${style.name}`}>
      <div class="flex items-start gap-2">
        <h2 class="flex-1 font-semibold">{style.name}</h2>
        <button type="button" class={small} onClick={onClose}>
          Close
        </button>
      </div>
      {style.description && <p class="text-zinc-700 dark:text-zinc-300">{style.description}</p>}
      <pre class="style-prompt mt-1 max-h-48 overflow-y-auto whitespace-pre-wrap font-sans">{style.prompt || '(no instructions: the model answers plainly)'}</pre>
    </div>
  );
}

/** The summary of a thread, collapsed at its top, with "Summarize" (a job; then the thread is read again). */
export function ThreadSummary(props: { session: Session; thread: Thread | null; summary: Message | null; onDone: () => void }) {
  const { session, thread, summary } = props;
  const [state, setState] = useState<'idle' | 'running' | 'error'>('idle');
  const [error, setError] = useState('');
  if (!thread) return null;
  const summarize = async () => {
    setState('running');
    setError('');
    try {
      const { job } = await call<{ job: number }>(session, 'POST', `/chat/threads/${thread.id}/summarize`);
      for (let i = 0; i < 120; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const j = await call<{ state?: string; status?: string; error?: string }>(session, 'GET', `/jobs/${job}`);
        const s = j.state ?? j.status ?? '';
        if (/^(done|succeeded|completed|finished)$/.test(s)) break;
        if (/^(failed|dead|cancelled|canceled)$/.test(s)) throw new Error(j.error || `the summary job ${s}`);
      }
      setState('idle');
      props.onDone();
    } catch (e) {
      setState('error');
      setError(errText(e));
    }
  };
  const covers = (summary?.settings as { covers?: { n?: number } } | undefined)?.covers;
  return (
    <div class="thread-summary mb-2 rounded-md border border-dashed border-zinc-400 px-2 py-1 text-sm dark:border-zinc-600">
      {summary ? (
        <details>
          <summary class="cursor-pointer">Summary of this thread{covers?.n ? ` (${covers.n} messages)` : ''}</summary>
          <div class="mt-1">
            <Markdown text={summary.content} />
          </div>
        </details>
      ) : (
        <span class="text-zinc-700 dark:text-zinc-300">No summary of this thread yet.</span>
      )}
      <button type="button" class={`${small} ml-2`} disabled={state === 'running'} onClick={() => void summarize()}>
        {state === 'running' ? 'Summarizing…' : summary ? 'Summarize again' : 'Summarize'}
      </button>
      {error && (
        <p role="alert" class="text-red-800 dark:text-red-300">
          {error}
        </p>
      )}
    </div>
  );
}
