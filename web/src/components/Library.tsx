import { useEffect, useRef, useState } from 'preact/hooks';
import type { Session } from '../lib/api';
import { call, errorOf } from '../lib/api';
import type { Collection, Folder, LibDocument, LibStatus } from '../lib/library';
import { parseTags, pending, sizeText } from '../lib/library';
import { navigate } from '../lib/router';

const field = 'rounded-md border border-zinc-400 bg-white px-2 py-1 dark:border-zinc-600 dark:bg-zinc-800';
const btn = 'rounded-md border border-zinc-400 px-2 py-0.5 text-sm hover:bg-zinc-200 focus-visible:outline-2 focus-visible:outline-amber-600 disabled:opacity-60 dark:border-zinc-600 dark:hover:bg-zinc-700';
const primary = 'rounded-md bg-amber-800 px-3 py-1 text-sm text-white focus-visible:outline-2 focus-visible:outline-amber-600 disabled:opacity-60';
const card = 'rounded-lg border border-zinc-300 p-3 dark:border-zinc-700';

const msg = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** One file being sent: its name, and then the document it became or why not. */
interface Upload {
  key: number;
  name: string;
  state: 'sending' | 'sent' | 'failed';
  error?: string;
  doc?: number;
}

const STATE_TEXT: Record<LibDocument['state'], string> = { queued: 'Queued', indexing: 'Indexing', ready: 'Ready', error: 'Error' };

function StatusPanel({ st }: { st: LibStatus | null }) {
  if (!st) return null;
  const states = Object.entries(st.states)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  return (
    <section aria-labelledby="lib-status" class={card}>
      <h2 id="lib-status" class="mb-1 font-semibold">
        Status
      </h2>
      <dl class="grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 text-sm">
        <dt>Documents</dt>
        <dd class="lib-documents">
          {st.documents}
          {states && ` (${states})`}
        </dd>
        <dt>Passages</dt>
        <dd>
          {st.chunks}
          {st.embedding_model ? ` (${st.embedded_chunks} with vectors)` : ''}
        </dd>
        <dt>Embedding model</dt>
        <dd>{st.embedding_model ? `${st.embedding_model.id} (${st.embedding_model.vectors} vectors, ${st.embedding_model.dim} dimensions)` : 'none'}</dd>
        <dt>Search</dt>
        <dd>{st.search === 'hybrid' ? 'hybrid (words and meaning)' : 'full-text (words)'}</dd>
        <dt>Watched folders</dt>
        <dd>{st.folders}</dd>
      </dl>
      {st.missing.map((m) => (
        <p key={m} class="lib-missing mt-2 rounded-md bg-amber-100 px-3 py-1.5 text-sm text-amber-950 dark:bg-amber-950 dark:text-amber-100">
          {m}
        </p>
      ))}
    </section>
  );
}

function DocRow({ session, d, canWrite, onChanged, onProblem }: { session: Session; d: LibDocument; canWrite: boolean; onChanged: () => void; onProblem: (m: string) => void }) {
  const [tags, setTags] = useState(d.tags.join(', '));
  const [editing, setEditing] = useState(false);
  const title = d.title || d.source.split('/').pop() || d.source;
  const busy = d.state === 'queued' || d.state === 'indexing';
  const save = async () => {
    setEditing(false);
    try {
      await call(session, 'PATCH', `/library/documents/${d.id}`, { tags: parseTags(tags) });
      onChanged();
    } catch (e) {
      onProblem(msg(e));
    }
  };
  return (
    <li class={`lib-doc ${card}`} data-state={d.state} data-id={d.id}>
      <div class="flex flex-wrap items-baseline gap-x-2">
        <h3 class="min-w-0 flex-1 truncate font-medium">{title}</h3>
        <span class={`doc-state text-sm font-medium ${d.state === 'error' ? 'text-red-800 dark:text-red-300' : d.state === 'ready' ? 'text-green-800 dark:text-green-300' : ''}`}>
          {STATE_TEXT[d.state]}
          {d.state === 'indexing' && ` ${Math.round(d.progress * 100)}%`}
        </span>
      </div>
      <p class="text-xs text-zinc-700 dark:text-zinc-300">
        {[d.authors, d.format.toUpperCase(), sizeText(d.size), d.state === 'ready' ? `${d.chunks} ${d.chunks === 1 ? 'passage' : 'passages'}` : '', d.folder_id > 0 ? 'from a watched folder' : ''].filter((x) => x).join(' · ')}
      </p>
      {busy && (
        <progress class="mt-1 h-2 w-full accent-amber-700" max={1} value={d.state === 'queued' ? undefined : d.progress} aria-label={`Indexing ${title}`} />
      )}
      {d.state === 'error' && (
        <p class="doc-error mt-1 rounded bg-red-100 px-2 py-1 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">{d.error || 'could not be indexed'}</p>
      )}
      <div class="mt-1 flex flex-wrap items-center gap-1 text-sm">
        {editing ? (
          <form
            class="flex flex-wrap items-center gap-1"
            onSubmit={(e) => {
              e.preventDefault();
              void save();
            }}
          >
            <label class="flex items-center gap-1">
              Tags
              <input class={field} value={tags} onInput={(e) => setTags(e.currentTarget.value)} placeholder="physics, notes" />
            </label>
            <button type="submit" class={btn}>
              Save
            </button>
            <button type="button" class={btn} onClick={() => setEditing(false)}>
              Cancel
            </button>
          </form>
        ) : (
          <>
            {d.tags.map((t) => (
              <span key={t} class="rounded-full bg-zinc-200 px-2 text-xs dark:bg-zinc-700">
                {t}
              </span>
            ))}
            {canWrite && d.own && (
              <button type="button" class={btn} aria-label={`Tags of ${title}`} onClick={() => setEditing(true)}>
                Tags
              </button>
            )}
          </>
        )}
        {canWrite && d.own && !editing && (
          <>
            <button
              type="button"
              class={btn}
              disabled={busy}
              aria-label={`Reindex ${title}`}
              onClick={() =>
                void call(session, 'PATCH', `/library/documents/${d.id}`, { reindex: true }).then(onChanged, (e: unknown) => onProblem(msg(e)))
              }
            >
              Reindex
            </button>
            <button
              type="button"
              class={btn}
              aria-label={`Delete ${title}`}
              onClick={() => {
                if (!confirm(`Delete “${title}” from the library?`)) return;
                void call(session, 'DELETE', `/library/documents/${d.id}`).then(onChanged, (e: unknown) => onProblem(msg(e)));
              }}
            >
              Delete
            </button>
          </>
        )}
      </div>
    </li>
  );
}

/** The Library page (/library): status, collections, uploads, documents, watched folders (admins). */
export function Library({ session, onMenu }: { session: Session; onMenu: () => void }) {
  const admin = session.user?.role === 'admin';
  const canWrite = session.user?.role !== 'readonly';
  const [st, setSt] = useState<LibStatus | null>(null);
  const [cols, setCols] = useState<Collection[]>([]);
  const [sel, setSel] = useState<number | null>(null); // the collection shown (null: all)
  const [docs, setDocs] = useState<LibDocument[]>([]);
  const [folders, setFolders] = useState<Folder[]>([]);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [problem, setProblem] = useState('');
  const [newName, setNewName] = useState('');
  const [renaming, setRenaming] = useState<{ id: number; name: string } | null>(null);
  const [folderPath, setFolderPath] = useState('');
  const [folderCol, setFolderCol] = useState('');
  const [drag, setDrag] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const seq = useRef(0);
  const selRef = useRef(sel);
  selRef.current = sel;

  const loadDocs = async () => {
    const c = selRef.current;
    try {
      const r = await call<{ documents: LibDocument[] }>(session, 'GET', `/library/documents?limit=200${c ? `&collection=${c}` : ''}`);
      if (selRef.current === c) setDocs(r.documents);
    } catch (e) {
      setProblem(msg(e));
    }
  };
  const loadStatus = () => call<LibStatus>(session, 'GET', '/library/status').then(setSt, (e: unknown) => setProblem(msg(e)));
  const loadCols = () => call<{ collections: Collection[] }>(session, 'GET', '/library/collections').then((r) => setCols(r.collections), (e: unknown) => setProblem(msg(e)));
  const loadFolders = () => (admin ? call<{ folders: Folder[] }>(session, 'GET', '/library/folders').then((r) => setFolders(r.folders), (e: unknown) => setProblem(msg(e))) : Promise.resolve());
  const reload = () => Promise.all([loadDocs(), loadStatus(), loadCols(), loadFolders()]).then(() => setLoaded(true));
  // a folder's scan finds its files in the background: look again a few times
  const timers = useRef<ReturnType<typeof setTimeout>[]>([]);
  const soon = () => {
    for (const ms of [800, 2000, 4000, 8000]) timers.current.push(setTimeout(() => void reload(), ms));
  };
  useEffect(() => () => timers.current.forEach(clearTimeout), []);

  useEffect(() => {
    void reload();
  }, []);
  useEffect(() => {
    void loadDocs();
  }, [sel]);
  // documents still queued or indexing: ask again until they are done
  useEffect(() => {
    if (!pending(docs)) return;
    const t = setTimeout(() => void Promise.all([loadDocs(), loadStatus()]), 1000);
    return () => clearTimeout(t);
  }, [docs]);

  const upload = async (files: File[]) => {
    if (!files.length) return;
    const target = sel;
    const mine = files.map((f) => ({ key: ++seq.current, name: f.name, state: 'sending' as const }));
    setUploads((u) => [...mine, ...u].slice(0, 50));
    await Promise.all(
      files.map(async (f, i) => {
        const key = mine[i]!.key;
        const fd = new FormData();
        fd.append('file', f, f.name);
        if (target) fd.append('collection', String(target));
        let up: Partial<Upload>;
        try {
          const r = await session.fetch('/library/documents', { method: 'POST', body: fd });
          if (!r.ok) throw await errorOf(r);
          const d = (await r.json()) as LibDocument;
          up = { state: 'sent', doc: d.id };
        } catch (e) {
          up = { state: 'failed', error: e instanceof TypeError ? 'could not reach the server' : msg(e) };
        }
        setUploads((u) => u.map((x) => (x.key === key ? { ...x, ...up } : x)));
      }),
    );
    void reload();
  };

  const createCol = async () => {
    const name = newName.trim();
    if (!name) return;
    try {
      const c = await call<Collection>(session, 'POST', '/library/collections', { name });
      setNewName('');
      await loadCols();
      setSel(c.id);
    } catch (e) {
      setProblem(msg(e));
    }
  };
  const patchCol = async (id: number, body: Record<string, unknown>) => {
    try {
      await call(session, 'PATCH', `/library/collections/${id}`, body);
      await loadCols();
    } catch (e) {
      setProblem(msg(e));
    }
  };
  const deleteCol = async (c: Collection) => {
    if (!confirm(`Delete the collection “${c.name}” and its ${c.documents} documents?`)) return;
    try {
      await call(session, 'DELETE', `/library/collections/${c.id}`);
      if (sel === c.id) setSel(null);
      await reload();
    } catch (e) {
      setProblem(msg(e));
    }
  };
  const addFolder = async () => {
    const path = folderPath.trim();
    if (!path) return;
    try {
      await call(session, 'POST', '/library/folders', folderCol ? { path, collection_id: Number(folderCol) } : { path });
      setFolderPath('');
      await reload();
      soon();
    } catch (e) {
      setProblem(msg(e));
    }
  };

  const selected = cols.find((c) => c.id === sel) ?? null;
  const colName = (id: number) => cols.find((c) => c.id === id)?.name ?? `#${id}`;
  const canUploadHere = canWrite && (!selected || selected.own);

  return (
    <div class="flex h-full min-h-0 flex-col">
      <header class="flex items-center gap-2 border-b border-zinc-300 px-3 py-2 dark:border-zinc-700">
        <button type="button" class="rounded px-2 py-1 md:hidden" aria-label="Show conversations" aria-controls="sidebar" onClick={onMenu}>
          ☰
        </button>
        <h1 class="min-w-0 flex-1 truncate font-semibold">Library</h1>
        <a
          href="/library/search"
          class="rounded-md px-2 py-1 text-sm underline focus-visible:outline-2 focus-visible:outline-amber-600"
          onClick={(e) => {
            if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
            e.preventDefault();
            navigate('/library/search');
          }}
        >
          Search the library
        </a>
      </header>
      <div class="min-h-0 flex-1 overflow-y-auto px-3 py-4">
        <div class="mx-auto max-w-4xl space-y-4">
          {problem && (
            <div role="alert" class="flex items-center gap-2 rounded-md bg-red-100 px-3 py-2 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
              <span class="flex-1">{problem}</span>
              <button type="button" class="rounded px-2 py-1 underline" aria-label="Dismiss" onClick={() => setProblem('')}>
                ✕
              </button>
            </div>
          )}
          <StatusPanel st={st} />

          <section aria-labelledby="lib-collections" class={card}>
            <h2 id="lib-collections" class="mb-2 font-semibold">
              Collections
            </h2>
            <ul class="flex flex-wrap gap-1" aria-label="Collections">
              <li>
                <button type="button" class={`${btn} ${sel === null ? 'bg-amber-100 dark:bg-amber-900/50' : ''}`} aria-pressed={sel === null} onClick={() => setSel(null)}>
                  All
                </button>
              </li>
              {cols.map((c) => (
                <li key={c.id}>
                  <button type="button" class={`${btn} ${sel === c.id ? 'bg-amber-100 dark:bg-amber-900/50' : ''}`} aria-pressed={sel === c.id} onClick={() => setSel(c.id)}>
                    {c.name} <span class="text-xs">({c.documents})</span>
                    {c.shared && <span class="ml-1 text-xs">shared</span>}
                  </button>
                </li>
              ))}
            </ul>
            {selected && (
              <div class="mt-2 flex flex-wrap items-center gap-2 text-sm">
                {renaming?.id === selected.id ? (
                  <form
                    class="flex items-center gap-1"
                    onSubmit={(e) => {
                      e.preventDefault();
                      const name = renaming.name.trim();
                      setRenaming(null);
                      if (name && name !== selected.name) void patchCol(selected.id, { name });
                    }}
                  >
                    <label class="flex items-center gap-1">
                      New name
                      <input class={field} value={renaming.name} onInput={(e) => setRenaming({ id: selected.id, name: e.currentTarget.value })} />
                    </label>
                    <button type="submit" class={btn}>
                      Save
                    </button>
                    <button type="button" class={btn} onClick={() => setRenaming(null)}>
                      Cancel
                    </button>
                  </form>
                ) : (
                  <>
                    <span>
                      “{selected.name}”{selected.shared ? (selected.own ? ', shared with everyone' : ', shared with you (read-only)') : ''}
                    </span>
                    {canWrite && selected.own && (
                      <>
                        <button type="button" class={btn} onClick={() => setRenaming({ id: selected.id, name: selected.name })}>
                          Rename
                        </button>
                        <button type="button" class={btn} onClick={() => void deleteCol(selected)}>
                          Delete collection
                        </button>
                      </>
                    )}
                    {admin && selected.own && (
                      <button type="button" class={btn} onClick={() => void patchCol(selected.id, { shared: !selected.shared })}>
                        {selected.shared ? 'Stop sharing' : 'Publish to everyone'}
                      </button>
                    )}
                  </>
                )}
              </div>
            )}
            {canWrite && (
              <form
                class="mt-2 flex flex-wrap items-center gap-1 text-sm"
                onSubmit={(e) => {
                  e.preventDefault();
                  void createCol();
                }}
              >
                <label class="flex items-center gap-1">
                  New collection
                  <input name="collection-name" class={field} value={newName} onInput={(e) => setNewName(e.currentTarget.value)} />
                </label>
                <button type="submit" class={btn} disabled={!newName.trim()}>
                  Create
                </button>
              </form>
            )}
          </section>

          {canUploadHere && (
            <section aria-labelledby="lib-upload" class={card}>
              <h2 id="lib-upload" class="mb-2 font-semibold">
                Add documents{selected ? ` to “${selected.name}”` : ' (to “Uploads”)'}
              </h2>
              <div
                class={`drop-zone flex flex-col items-center gap-2 rounded-md border-2 border-dashed px-3 py-6 text-center text-sm ${drag ? 'border-amber-600 bg-amber-50 dark:bg-amber-950/40' : 'border-zinc-400 dark:border-zinc-600'}`}
                onDragOver={(e) => {
                  e.preventDefault();
                  setDrag(true);
                }}
                onDragLeave={() => setDrag(false)}
                onDrop={(e) => {
                  e.preventDefault();
                  setDrag(false);
                  void upload([...(e.dataTransfer?.files ?? [])]);
                }}
              >
                <p>Drop EPUB, Markdown, text, HTML, PDF or ZIM files here, or</p>
                <button type="button" class={primary} onClick={() => fileInput.current?.click()}>
                  Choose files…
                </button>
                <input
                  ref={fileInput}
                  type="file"
                  multiple
                  class="sr-only"
                  aria-label="Files to add"
                  tabIndex={-1}
                  accept=".epub,.md,.markdown,.txt,.text,.html,.htm,.xhtml,.pdf,.zim"
                  onChange={(e) => {
                    const fs = [...(e.currentTarget.files ?? [])];
                    e.currentTarget.value = '';
                    void upload(fs);
                  }}
                />
              </div>
              {uploads.length > 0 && (
                <ul class="mt-2 space-y-1 text-sm" aria-label="Uploads" aria-live="polite">
                  {uploads.map((u) => (
                    <li key={u.key} class="upload" data-state={u.state}>
                      <span class="font-medium">{u.name}</span>:{' '}
                      {u.state === 'sending' ? 'sending…' : u.state === 'sent' ? 'sent, indexing below' : <span class="upload-error text-red-800 dark:text-red-300">{u.error}</span>}
                    </li>
                  ))}
                </ul>
              )}
            </section>
          )}

          <section aria-labelledby="lib-docs">
            <h2 id="lib-docs" class="mb-2 font-semibold">
              Documents{selected ? ` in “${selected.name}”` : ''}
            </h2>
            {loaded && docs.length === 0 && <p class="text-sm text-zinc-700 dark:text-zinc-300">No documents yet.</p>}
            <ul class="space-y-2" aria-label="Documents">
              {docs.map((d) => (
                <DocRow key={`${d.id}-${d.updated_at}`} session={session} d={d} canWrite={canWrite} onChanged={() => void reload()} onProblem={setProblem} />
              ))}
            </ul>
          </section>

          {admin && (
            <section aria-labelledby="lib-folders" class={card}>
              <h2 id="lib-folders" class="mb-2 font-semibold">
                Watched folders
              </h2>
              <p class="mb-2 text-sm text-zinc-700 dark:text-zinc-300">Folders on the server kept indexed: new, changed and deleted files are followed.</p>
              {folders.length > 0 && (
                <ul class="mb-2 space-y-1 text-sm" aria-label="Watched folders">
                  {folders.map((f) => (
                    <li key={f.id} class="folder flex flex-wrap items-center gap-2">
                      <code class="rounded bg-zinc-100 px-1 dark:bg-zinc-800">{f.path}</code>
                      <span>→ {colName(f.collection_id)}</span>
                      <button
                        type="button"
                        class={btn}
                        aria-label={`Scan now: ${f.path}`}
                        onClick={() =>
                          void call(session, 'POST', `/library/folders/${f.id}/scan`).then(
                            () => {
                              void reload();
                              soon();
                            },
                            (e: unknown) => setProblem(msg(e)),
                          )
                        }
                      >
                        Scan now
                      </button>
                      <button
                        type="button"
                        class={btn}
                        aria-label={`Remove ${f.path}`}
                        onClick={() => {
                          if (!confirm(`Stop watching ${f.path} and remove its documents from the library?`)) return;
                          void call(session, 'DELETE', `/library/folders/${f.id}`).then(() => void reload(), (e: unknown) => setProblem(msg(e)));
                        }}
                      >
                        Remove
                      </button>
                    </li>
                  ))}
                </ul>
              )}
              <form
                class="flex flex-wrap items-end gap-2 text-sm"
                onSubmit={(e) => {
                  e.preventDefault();
                  void addFolder();
                }}
              >
                <label class="flex min-w-[14rem] flex-1 flex-col">
                  Folder path on the server
                  <input name="folder-path" class={field} value={folderPath} placeholder="/srv/books" onInput={(e) => setFolderPath(e.currentTarget.value)} />
                </label>
                <label class="flex flex-col">
                  Into
                  <select name="folder-collection" class={field} value={folderCol} onChange={(e) => setFolderCol(e.currentTarget.value)}>
                    <option value="">A new collection named after it</option>
                    {cols
                      .filter((c) => c.own)
                      .map((c) => (
                        <option key={c.id} value={String(c.id)}>
                          {c.name}
                        </option>
                      ))}
                  </select>
                </label>
                <button type="submit" class={primary} disabled={!folderPath.trim()}>
                  Watch
                </button>
              </form>
            </section>
          )}
        </div>
      </div>
    </div>
  );
}
