/**
 * Survival mode (docs/memory.md "Survival mode"): the survival library by
 * category (water, food, shelter, first aid…), a search of only that
 * library, a question answered only from it with citations, and which of
 * the user's collections make it up. Works the same offline: nothing here
 * leaves the server.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Session } from '../lib/api';
import { call } from '../lib/api';
import type { Collection, LibDocument, SearchReply, Source } from '../lib/library';
import { locationText, markedTerms, snippetFromHtml, snippetFromMarkers, sourcesOf } from '../lib/library';
import type { SurvivalCategory } from '../lib/memory';
import { survivalAnswer } from '../lib/memory';
import { CiteContext, Markdown } from './Markdown';
import { SourcesList } from './Collections';
import { Marked, PassageReader } from './Passage';

const field = 'mt-1 rounded-md border border-zinc-500 bg-white px-2 py-1 dark:bg-zinc-800';
const btn =
  'rounded border border-zinc-500 px-2 py-0.5 text-sm hover:bg-zinc-200 focus-visible:outline-2 focus-visible:outline-amber-600 disabled:opacity-70 dark:hover:bg-zinc-800';
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

interface SurvDoc {
  document: LibDocument;
  categories: { id: string; source: 'rule' | 'embedding' | 'manual'; score: number }[];
}

function Err({ msg }: { msg: string }) {
  if (!msg) return null;
  return (
    <p role="alert" class="my-2 rounded bg-red-100 px-2 py-1 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
      {msg}
    </p>
  );
}

function CollectionsSetup({ session, onChange }: { session: Session; onChange: () => void }) {
  const [all, setAll] = useState<Collection[] | null>(null);
  const [ids, setIds] = useState<number[]>([]);
  const [error, setError] = useState('');
  const [note, setNote] = useState('');
  useEffect(() => {
    Promise.all([call<{ collections: Collection[] }>(session, 'GET', '/library/collections'), call<{ collections: number[] }>(session, 'GET', '/survival/collections')]).then(
      ([a, s]) => {
        setAll(a.collections);
        setIds(s.collections);
      },
      (e: unknown) => setError(errText(e)),
    );
  }, []);
  const toggle = async (id: number, on: boolean) => {
    const next = on ? [...ids.filter((x) => x !== id), id] : ids.filter((x) => x !== id);
    try {
      const r = await call<{ collections: number[]; job?: number }>(session, 'PUT', '/survival/collections', { collections: next });
      setIds(r.collections);
      setNote(r.job ? 'Saved; their documents are being tagged.' : 'Saved.');
      setError('');
      onChange();
    } catch (e) {
      setError(errText(e));
    }
  };
  return (
    <section aria-labelledby="h-surv-cols" class="space-y-1">
      <h2 id="h-surv-cols" class="text-lg font-semibold">
        Survival library
      </h2>
      <p class="text-sm text-zinc-700 dark:text-zinc-300">Mark the collections that make up your survival library; only they are searched and cited here.</p>
      <Err msg={error} />
      {all && all.length === 0 && <p class="text-sm">No collections yet: make one on the Library page and upload your guides.</p>}
      <ul class="flex flex-wrap gap-x-4 gap-y-1">
        {all?.map((c) => (
          <li key={c.id}>
            <label class="flex items-center gap-1 text-sm">
              <input type="checkbox" checked={ids.includes(c.id)} onChange={(e) => void toggle(c.id, e.currentTarget.checked)} />
              Survival: {c.name} ({c.documents})
            </label>
          </li>
        ))}
      </ul>
      <p role="status" class="text-sm">
        {note}
      </p>
    </section>
  );
}

export function Survival({ session, onMenu }: { session: Session; onMenu: () => void }) {
  const [cats, setCats] = useState<SurvivalCategory[]>([]);
  const [cat, setCat] = useState('');
  const [docs, setDocs] = useState<SurvDoc[] | null>(null);
  const [error, setError] = useState('');
  const [q, setQ] = useState('');
  const [found, setFound] = useState<SearchReply | null>(null);
  const [question, setQuestion] = useState('');
  const [asking, setAsking] = useState(false);
  const [answer, setAnswer] = useState<{ q: string; text: string; sources: Source[] } | null>(null);
  const [reading, setReading] = useState<{ chunk: number; terms: string[] } | null>(null);
  const [editing, setEditing] = useState<number | null>(null);
  const [n, setN] = useState(0);

  useEffect(() => {
    call<{ data: SurvivalCategory[] }>(session, 'GET', '/survival/categories').then(
      (r) => setCats(r.data),
      (e: unknown) => setError(errText(e)),
    );
  }, [n]);
  useEffect(() => {
    const p = new URLSearchParams({ limit: '50' });
    if (cat) p.set('category', cat);
    call<{ data: SurvDoc[] }>(session, 'GET', `/survival/documents?${p}`).then(
      (r) => setDocs(r.data),
      (e: unknown) => setError(errText(e)),
    );
  }, [cat, n]);

  const search = async () => {
    if (!q.trim()) return;
    const p = new URLSearchParams({ q: q.trim(), limit: '10' });
    if (cat) p.set('category', cat);
    try {
      setFound(await call<SearchReply>(session, 'GET', `/survival/search?${p}`));
      setError('');
    } catch (e) {
      setError(errText(e));
    }
  };
  const ask = async () => {
    const text = question.trim();
    if (!text || asking) return;
    setAsking(true);
    setError('');
    try {
      const r = await call<unknown>(session, 'POST', '/survival/ask', { question: text, ...(cat ? { category: cat } : {}), stream: false });
      const a = survivalAnswer(r);
      setAnswer({ q: text, text: a.text, sources: sourcesOf({ sources: a.sources }) });
    } catch (e) {
      setError(errText(e));
    } finally {
      setAsking(false);
    }
  };
  const setCategories = async (d: SurvDoc, ids: string[]) => {
    try {
      await call(session, 'PUT', `/survival/documents/${d.document.id}/categories`, { categories: ids });
      setEditing(null);
      setN((x) => x + 1);
    } catch (e) {
      setError(errText(e));
    }
  };
  const cites = useMemo(
    () =>
      answer && answer.sources.length
        ? {
            known: new Set(answer.sources.map((s) => s.n)),
            prefix: 'src-survival',
            go: (k: number) => {
              const el = document.getElementById(`src-survival-${k}`);
              el?.scrollIntoView({ block: 'nearest' });
              el?.querySelector<HTMLElement>('button')?.focus();
            },
          }
        : null,
    [answer],
  );
  const catName = (id: string) => cats.find((c) => c.id === id)?.name ?? id;

  return (
    <div class="flex h-full min-h-0 flex-col">
      <header class="flex items-center gap-2 border-b border-zinc-300 px-3 py-2 dark:border-zinc-700">
        <button type="button" class="rounded px-2 py-1 md:hidden" aria-label="Show conversations" aria-controls="sidebar" onClick={onMenu}>
          ☰
        </button>
        <h1 class="font-semibold">Survival</h1>
      </header>
      <div class="min-h-0 flex-1 overflow-y-auto px-3 py-4">
        <div class="mx-auto max-w-3xl space-y-6">
          <Err msg={error} />
          <section aria-labelledby="h-ask" class="space-y-2">
            <h2 id="h-ask" class="text-lg font-semibold">
              Ask the survival library
            </h2>
            <form
              class="flex flex-wrap items-end gap-2"
              aria-label="Ask the survival library"
              onSubmit={(e) => {
                e.preventDefault();
                void ask();
              }}
            >
              <label class="flex min-w-[12rem] flex-1 flex-col text-sm">
                Question
                <input class={field} name="question" value={question} onInput={(e) => setQuestion(e.currentTarget.value)} />
              </label>
              <button type="submit" class="rounded-md bg-amber-800 px-4 py-1.5 text-white disabled:opacity-60" disabled={asking || !question.trim()}>
                {asking ? 'Asking…' : 'Ask'}
              </button>
            </form>
            <p class="text-xs text-zinc-700 dark:text-zinc-300">Answers come only from your survival library{cat ? ` (${catName(cat)})` : ''}, with the passages they cite.</p>
            {answer && (
              <article class="survival-answer rounded-lg bg-zinc-100 px-3 py-2 dark:bg-zinc-800" aria-label={`Answer to ${answer.q}`}>
                <CiteContext.Provider value={cites}>
                  <Markdown text={answer.text} />
                </CiteContext.Provider>
                {answer.sources.length > 0 ? (
                  <SourcesList mid={0} sources={answer.sources} onOpen={(s) => setReading({ chunk: s.chunk_id, terms: markedTerms(snippetFromMarkers(s.snippet)) })} />
                ) : (
                  <p class="mt-1 text-xs">No passage of the survival library was found for this.</p>
                )}
              </article>
            )}
          </section>

          <section aria-labelledby="h-cats" class="space-y-2">
            <h2 id="h-cats" class="text-lg font-semibold">
              Categories
            </h2>
            <div class="categories flex flex-wrap gap-2" role="group" aria-label="Categories">
              <button type="button" class={btn} aria-pressed={cat === ''} onClick={() => setCat('')}>
                All
              </button>
              {cats.map((c) => (
                <button key={c.id} type="button" class={btn} aria-pressed={cat === c.id} title={c.description} data-category={c.id} onClick={() => setCat(c.id)}>
                  {c.name} ({c.n_documents})
                </button>
              ))}
            </div>
            <form
              role="search"
              aria-label="Search the survival library"
              class="flex flex-wrap items-end gap-2"
              onSubmit={(e) => {
                e.preventDefault();
                void search();
              }}
            >
              <label class="flex min-w-[12rem] flex-1 flex-col text-sm">
                Search {cat ? catName(cat) : 'the survival library'}
                <input type="search" class={field} name="survival_q" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
              </label>
              <button type="submit" class="rounded-md bg-amber-800 px-4 py-1.5 text-white disabled:opacity-60" disabled={!q.trim()}>
                Search
              </button>
            </form>
            {found && (
              <ol class="space-y-2" aria-label="Survival search results">
                {found.results.length === 0 && <li>Nothing found in the survival library.</li>}
                {found.results.map((h) => {
                  const segs = snippetFromHtml(h.snippet);
                  return (
                    <li key={h.chunk_id} class="survival-hit rounded-lg border border-zinc-300 p-2 dark:border-zinc-700">
                      <button type="button" class="font-semibold underline" onClick={() => setReading({ chunk: h.chunk_id, terms: markedTerms(segs) })}>
                        {h.title || h.source}
                      </button>
                      {locationText(h.location) && <span class="ml-2 text-xs">{locationText(h.location)}</span>}
                      <p class="text-sm">
                        <Marked segs={segs} />
                      </p>
                    </li>
                  );
                })}
              </ol>
            )}
            <h3 class="font-medium">{cat ? `Documents about ${catName(cat)}` : 'All documents'}</h3>
            {docs && docs.length === 0 && <p class="text-sm">No documents{cat ? ' in this category' : ''}.</p>}
            <ul class="space-y-1">
              {docs?.map((d) => (
                <li key={d.document.id} class="survival-doc rounded-md border border-zinc-300 p-2 text-sm dark:border-zinc-700" data-doc={d.document.id}>
                  <div class="flex flex-wrap items-center gap-2">
                    <span class="flex-1 font-medium">{d.document.title || d.document.source}</span>
                    {d.categories.map((c) => (
                      <span key={c.id} class="rounded-full border border-zinc-500 px-2 text-xs" title={`${c.source}${c.score ? ` ${c.score.toFixed(2)}` : ''}`}>
                        {catName(c.id)}
                        {c.source === 'manual' ? '' : ` (${c.source})`}
                      </span>
                    ))}
                    <button type="button" class={btn} aria-expanded={editing === d.document.id} onClick={() => setEditing(editing === d.document.id ? null : d.document.id)}>
                      Categories of {d.document.title || d.document.source}
                    </button>
                  </div>
                  {editing === d.document.id && (
                    <form
                      class="mt-1 flex flex-wrap gap-x-3"
                      aria-label="Correct the categories"
                      onSubmit={(e) => {
                        e.preventDefault();
                        const f = new FormData(e.currentTarget);
                        void setCategories(d, f.getAll('cat').map(String));
                      }}
                    >
                      {cats.map((c) => (
                        <label key={c.id} class="flex items-center gap-1">
                          <input type="checkbox" name="cat" value={c.id} defaultChecked={d.categories.some((x) => x.id === c.id)} />
                          {c.name}
                        </label>
                      ))}
                      <button type="submit" class={btn}>
                        Save categories
                      </button>
                    </form>
                  )}
                </li>
              ))}
            </ul>
          </section>
          <CollectionsSetup session={session} onChange={() => setN((x) => x + 1)} />
        </div>
      </div>
      {reading && <PassageReader session={session} chunkId={reading.chunk} terms={reading.terms} onClose={() => setReading(null)} />}
    </div>
  );
}
