import { useEffect, useRef, useState } from 'preact/hooks';
import type { Session } from '../lib/api';
import { call } from '../lib/api';
import type { Chunk, Passage, Seg } from '../lib/library';
import { locationText, markTerms } from '../lib/library';

/** Marked runs as text nodes and <mark> elements: nothing is ever parsed as HTML. */
export function Marked({ segs }: { segs: Seg[] }) {
  return <>{segs.map((s, i) => (s.mark ? <mark key={i} class="rounded-sm bg-amber-200 px-0.5 text-zinc-950 dark:bg-amber-700 dark:text-zinc-50">{s.text}</mark> : s.text))}</>;
}

function Para({ c, hit, terms }: { c: Chunk; hit: boolean; terms: string[] }) {
  const where = locationText(c.location);
  return (
    <section
      class={hit ? 'passage-hit rounded-md border-l-4 border-amber-600 bg-amber-50 px-3 py-2 dark:bg-amber-950/40' : 'px-3 py-2 text-zinc-800 dark:text-zinc-200'}
      aria-current={hit ? 'true' : undefined}
      data-chunk={c.id}
      tabIndex={hit ? -1 : undefined}
    >
      {where && <p class="mb-1 text-xs text-zinc-700 dark:text-zinc-300">{where}</p>}
      <p class="whitespace-pre-wrap">{hit ? <Marked segs={markTerms(c.text, terms)} /> : c.text}</p>
    </section>
  );
}

/**
 * The reader a search hit or a citation opens: the passage with two
 * neighbours on each side (GET /library/chunks/{id}?context=2), the hit
 * highlighted and its words marked, in a modal dialog (Esc closes it; the
 * focus goes back where it was).
 */
export function PassageReader({ session, chunkId, terms, onClose }: { session: Session; chunkId: number; terms: string[]; onClose: () => void }) {
  const dlg = useRef<HTMLDialogElement>(null);
  const [p, setP] = useState<Passage | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    const back = document.activeElement as HTMLElement | null;
    dlg.current?.showModal();
    return () => back?.focus?.();
  }, []);
  useEffect(() => {
    let gone = false;
    setP(null);
    setError('');
    call<Passage>(session, 'GET', `/library/chunks/${chunkId}?context=2`).then(
      (r) => !gone && setP(r),
      (e: unknown) => !gone && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      gone = true;
    };
  }, [chunkId]);
  useEffect(() => {
    const hit = dlg.current?.querySelector<HTMLElement>('.passage-hit');
    hit?.scrollIntoView({ block: 'center' });
  }, [p]);
  const title = p ? p.document.title || p.document.source : 'Passage';
  return (
    <dialog
      ref={dlg}
      aria-labelledby="passage-title"
      class="passage m-auto max-h-[90dvh] w-[min(48rem,95vw)] rounded-lg border border-zinc-300 bg-white p-0 text-zinc-900 backdrop:bg-black/50 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100"
      onClose={onClose}
      onClick={(e) => e.target === dlg.current && dlg.current?.close()}
    >
      <div class="flex max-h-[90dvh] flex-col">
        <header class="flex items-start gap-2 border-b border-zinc-300 px-4 py-3 dark:border-zinc-700">
          <div class="min-w-0 flex-1">
            <h2 id="passage-title" class="truncate font-semibold">
              {title}
            </h2>
            {p && p.document.authors && <p class="text-sm text-zinc-700 dark:text-zinc-300">{p.document.authors}</p>}
          </div>
          <button type="button" class="rounded px-2 py-1 hover:bg-zinc-200 focus-visible:outline-2 focus-visible:outline-amber-600 dark:hover:bg-zinc-700" aria-label="Close the passage" onClick={() => dlg.current?.close()}>
            ✕
          </button>
        </header>
        <div class="min-h-0 flex-1 space-y-2 overflow-y-auto py-3" tabIndex={0} aria-label="Passage text">
          {error && (
            <p role="alert" class="mx-4 rounded-md bg-red-100 px-3 py-2 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
              {error}
            </p>
          )}
          {!p && !error && <p class="px-4 text-zinc-700 dark:text-zinc-300">Loading…</p>}
          {p && (
            <>
              {p.before.map((c) => (
                <Para key={c.id} c={c} hit={false} terms={terms} />
              ))}
              <Para c={p.chunk} hit terms={terms} />
              {p.after.map((c) => (
                <Para key={c.id} c={c} hit={false} terms={terms} />
              ))}
            </>
          )}
        </div>
      </div>
    </dialog>
  );
}
