import { useEffect, useRef, useState } from 'preact/hooks';
import type { Session } from '../lib/api';
import { call } from '../lib/api';
import type { Collection, Source } from '../lib/library';
import { locationText, snippetFromMarkers } from '../lib/library';
import { Marked } from './Passage';

const chip = 'inline-flex items-center gap-1 rounded-full border border-amber-700 bg-amber-50 px-2 py-0.5 text-xs text-amber-950 dark:bg-amber-950/50 dark:text-amber-100';

/**
 * The collections a conversation answers from, as chips with a remove
 * button, and a list to pick more (docs/chat.md: settings.collections, at
 * most 16). onChange gets the new ids; the caller saves them.
 */
export function CollectionsPicker({ session, ids, disabled, onChange }: { session: Session; ids: number[]; disabled: boolean; onChange: (ids: number[]) => void }) {
  const [all, setAll] = useState<Collection[] | null>(null);
  const [open, setOpen] = useState(false);
  const panel = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open || all) return;
    call<{ collections: Collection[] }>(session, 'GET', '/library/collections').then(
      (r) => setAll(r.collections),
      () => setAll([]),
    );
  }, [open]);
  useEffect(() => {
    // names for the chips of a conversation that already has some
    if (ids.length && !all)
      call<{ collections: Collection[] }>(session, 'GET', '/library/collections').then(
        (r) => setAll(r.collections),
        () => {},
      );
  }, [ids.join(',')]);
  useEffect(() => {
    if (open) panel.current?.querySelector<HTMLElement>('input')?.focus();
  }, [open, all]);
  const name = (id: number) => all?.find((c) => c.id === id)?.name ?? `Collection ${id}`;
  const toggle = (id: number, on: boolean) => onChange(on ? [...ids.filter((x) => x !== id), id].slice(0, 16) : ids.filter((x) => x !== id));
  return (
    <div class="collections relative flex flex-wrap items-center gap-1 text-sm" role="group" aria-label="Library collections for this chat">
      {ids.map((id) => (
        <span key={id} class={`${chip} collection-chip`}>
          {name(id)}
          <button type="button" class="rounded-full px-1 hover:bg-amber-200 dark:hover:bg-amber-800" aria-label={`Stop answering from ${name(id)}`} disabled={disabled} onClick={() => toggle(id, false)}>
            ✕
          </button>
        </span>
      ))}
      <button
        type="button"
        class="rounded px-2 py-0.5 text-xs text-zinc-700 underline hover:bg-zinc-200 focus-visible:outline-2 focus-visible:outline-amber-600 dark:text-zinc-300 dark:hover:bg-zinc-700"
        aria-expanded={open}
        aria-controls="collections-panel"
        disabled={disabled}
        onClick={() => setOpen(!open)}
      >
        {ids.length ? 'Collections…' : 'Answer from the library…'}
      </button>
      {open && (
        <div
          id="collections-panel"
          ref={panel}
          class="absolute bottom-full left-0 z-10 mb-1 max-h-64 w-72 overflow-y-auto rounded-md border border-zinc-300 bg-white p-2 shadow-lg dark:border-zinc-700 dark:bg-zinc-900"
          onKeyDown={(e) => {
            if (e.key === 'Escape') {
              e.stopPropagation();
              setOpen(false);
            }
          }}
        >
          <fieldset>
            <legend class="mb-1 text-xs font-semibold">Answer from these collections</legend>
            {all === null && <p class="text-xs">Loading…</p>}
            {all && all.length === 0 && <p class="text-xs">No collections yet: add documents on the Library page.</p>}
            {all?.map((c) => (
              <label key={c.id} class="flex items-center gap-2 py-0.5">
                <input type="checkbox" checked={ids.includes(c.id)} onChange={(e) => toggle(c.id, e.currentTarget.checked)} />
                <span>
                  {c.name} <span class="text-xs text-zinc-700 dark:text-zinc-300">({c.documents}{c.shared ? ', shared' : ''})</span>
                </span>
              </label>
            ))}
          </fieldset>
          <button type="button" class="mt-1 rounded px-2 py-0.5 text-xs underline" onClick={() => setOpen(false)}>
            Done
          </button>
        </div>
      )}
    </div>
  );
}

/** "Sources" under an answer: [n], title, heading, pages, the snippet; a click opens the passage. */
export function SourcesList({ mid, sources, onOpen }: { mid: number; sources: Source[]; onOpen: (s: Source) => void }) {
  return (
    <section class="sources mt-2 border-t border-zinc-300 pt-2 dark:border-zinc-600" aria-label="Sources">
      <h2 class="text-xs font-semibold uppercase tracking-wide text-zinc-700 dark:text-zinc-300">Sources</h2>
      <ol class="mt-1 space-y-1 text-sm">
        {sources.map((s) => {
          const where = locationText(s);
          return (
            <li key={s.n} id={`src-${mid}-${s.n}`} class="source">
              <button
                type="button"
                class="source-open text-left hover:underline focus-visible:outline-2 focus-visible:outline-amber-600"
                title="Open the passage"
                onClick={() => onOpen(s)}
              >
                <span class="font-mono font-semibold">[{s.n}]</span> <span class="font-medium">{s.title}</span>
                {where && <span class="text-xs text-zinc-700 dark:text-zinc-300"> · {where}</span>}
              </button>
              {s.snippet && (
                <p class="ml-7 text-xs text-zinc-700 dark:text-zinc-300">
                  <Marked segs={snippetFromMarkers(s.snippet)} />
                </p>
              )}
            </li>
          );
        })}
      </ol>
    </section>
  );
}
