import { useEffect, useRef, useState } from 'preact/hooks';
import type { Session } from '../lib/api';
import { call } from '../lib/api';
import type { Collection, SearchHit, SearchMode, SearchReply } from '../lib/library';
import { locationText, markedTerms, queryTerms, searchQuery, snippetFromHtml } from '../lib/library';
import { Marked, PassageReader } from './Passage';

const field = 'rounded-md border border-zinc-400 bg-white px-2 py-1 dark:border-zinc-600 dark:bg-zinc-800';

/** The Search page (/library/search?q=&mode=&collections=): the library's passages by words, meaning or both. */
export function SearchPage({ session, onMenu }: { session: Session; onMenu: () => void }) {
  const url = new URLSearchParams(location.search);
  const [q, setQ] = useState(url.get('q') ?? '');
  const [mode, setMode] = useState<SearchMode | ''>((url.get('mode') as SearchMode) || '');
  const [cols, setCols] = useState<number[]>((url.get('collections') ?? '').split(',').filter((x) => /^\d+$/.test(x)).map(Number));
  const [collections, setCollections] = useState<Collection[]>([]);
  const [reply, setReply] = useState<SearchReply | null>(null);
  const [asked, setAsked] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [open, setOpen] = useState<{ hit: SearchHit; terms: string[] } | null>(null);
  const box = useRef<HTMLInputElement>(null);

  useEffect(() => {
    call<{ collections: Collection[] }>(session, 'GET', '/library/collections').then(
      (r) => setCollections(r.collections),
      () => {},
    );
    box.current?.focus();
    if (q.trim()) void run();
  }, []);

  const run = async () => {
    const words = q.trim();
    if (!words) return;
    setBusy(true);
    setError('');
    const qs = searchQuery(words, mode, cols);
    history.replaceState(null, '', `/library/search?${qs}`);
    try {
      const r = await call<SearchReply>(session, 'GET', `/search?${qs}`);
      setReply(r);
      setAsked(words);
    } catch (e) {
      setReply(null);
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="flex h-full min-h-0 flex-col">
      <header class="flex items-center gap-2 border-b border-zinc-300 px-3 py-2 dark:border-zinc-700">
        <button type="button" class="rounded px-2 py-1 md:hidden" aria-label="Show conversations" aria-controls="sidebar" onClick={onMenu}>
          ☰
        </button>
        <h1 class="min-w-0 flex-1 truncate font-semibold">Search the library</h1>
      </header>
      <div class="min-h-0 flex-1 overflow-y-auto px-3 py-4">
        <div class="mx-auto max-w-3xl space-y-4">
          <form
            role="search"
            aria-label="Search the library"
            class="flex flex-wrap items-end gap-2"
            onSubmit={(e) => {
              e.preventDefault();
              void run();
            }}
          >
            <label class="flex min-w-[12rem] flex-1 flex-col text-sm">
              Words
              <input ref={box} type="search" name="q" class={field} value={q} onInput={(e) => setQ(e.currentTarget.value)} />
            </label>
            <label class="flex flex-col text-sm">
              Mode
              <select name="mode" class={field} value={mode} onChange={(e) => setMode(e.currentTarget.value as SearchMode | '')}>
                <option value="">Best available</option>
                <option value="hybrid">Hybrid</option>
                <option value="fulltext">Full-text</option>
                <option value="vector">Vector (meaning)</option>
              </select>
            </label>
            <label class="flex flex-col text-sm">
              Collection
              <select
                name="collection"
                class={field}
                value={cols.length === 1 ? String(cols[0]) : ''}
                onChange={(e) => setCols(e.currentTarget.value ? [Number(e.currentTarget.value)] : [])}
              >
                <option value="">All collections</option>
                {collections.map((c) => (
                  <option key={c.id} value={String(c.id)}>
                    {c.name}
                    {c.shared ? ' (shared)' : ''}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit" class="rounded-md bg-amber-800 px-4 py-1.5 text-white disabled:opacity-60" disabled={busy || !q.trim()}>
              Search
            </button>
          </form>
          <div role="status" aria-live="polite" class="text-sm text-zinc-700 dark:text-zinc-300">
            {busy ? 'Searching…' : reply ? `${reply.results.length} ${reply.results.length === 1 ? 'passage' : 'passages'} for “${asked}” (${reply.mode})` : ''}
          </div>
          {reply?.degraded && <p class="rounded-md bg-amber-100 px-3 py-2 text-sm text-amber-950 dark:bg-amber-950 dark:text-amber-100">{reply.note || 'Full-text search only.'}</p>}
          {error && (
            <p role="alert" class="rounded-md bg-red-100 px-3 py-2 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
              {error}
            </p>
          )}
          {reply && reply.results.length === 0 && <p>Nothing found. Full-text search needs every word to appear; try fewer words.</p>}
          {reply && reply.results.length > 0 && (
            <ol class="space-y-3" aria-label="Results">
              {reply.results.map((h) => {
                const segs = snippetFromHtml(h.snippet);
                const where = locationText(h.location);
                return (
                  <li key={h.chunk_id} data-chunk={h.chunk_id} class="search-hit rounded-lg border border-zinc-300 p-3 dark:border-zinc-700">
                    <h2 class="font-semibold">
                      <button
                        type="button"
                        class="text-left underline decoration-amber-700 underline-offset-2 hover:text-amber-900 focus-visible:outline-2 focus-visible:outline-amber-600 dark:hover:text-amber-200"
                        onClick={() => setOpen({ hit: h, terms: [...new Set([...markedTerms(segs), ...queryTerms(asked)])] })}
                      >
                        {h.title || h.source}
                      </button>
                    </h2>
                    {where && <p class="text-xs text-zinc-700 dark:text-zinc-300">{where}</p>}
                    <p class="snippet mt-1 text-sm">
                      <Marked segs={segs} />
                    </p>
                  </li>
                );
              })}
            </ol>
          )}
        </div>
      </div>
      {open && <PassageReader session={session} chunkId={open.hit.chunk_id} terms={open.terms} onClose={() => setOpen(null)} />}
    </div>
  );
}
