/**
 * The settings page's server-side parts (docs/memory.md): the user's memory
 * settings (instructions, the sources of a prompt, topic-shift threads,
 * summaries), thinking styles (read the built-in ones, copy one into a
 * style of your own, edit and delete your own) and the glossary.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Session } from '../lib/api';
import { call } from '../lib/api';
import type { GlossaryEntry, MemorySettings, Style } from '../lib/memory';
import { DEFAULT_MEMORY } from '../lib/memory';
import { SourceSwitchesView } from './Memory';

const field = 'mt-1 block w-full rounded-md border border-zinc-500 bg-white px-2 py-1 dark:bg-zinc-800';
const btn =
  'rounded border border-zinc-500 px-2 py-0.5 text-sm hover:bg-zinc-200 focus-visible:outline-2 focus-visible:outline-amber-600 disabled:opacity-70 dark:hover:bg-zinc-800';
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

function Err({ msg }: { msg: string }) {
  if (!msg) return null;
  return (
    <p role="alert" class="my-2 rounded bg-red-100 px-2 py-1 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
      {msg}
    </p>
  );
}

export function MemorySection({ session }: { session: Session }) {
  const [m, setM] = useState<MemorySettings | null>(null);
  const [error, setError] = useState('');
  const [saved, setSaved] = useState('');
  const [system, setSystem] = useState('');
  useEffect(() => {
    call<MemorySettings>(session, 'GET', '/chat/memory').then(
      (r) => {
        const v = { ...DEFAULT_MEMORY, ...r, sources: { ...DEFAULT_MEMORY.sources, ...r.sources } };
        setM(v);
        setSystem(v.system);
      },
      (e: unknown) => setError(errText(e)),
    );
  }, []);
  const put = async (ch: Partial<MemorySettings>) => {
    try {
      const r = await call<MemorySettings>(session, 'PUT', '/chat/memory', ch);
      setM({ ...DEFAULT_MEMORY, ...r, sources: { ...DEFAULT_MEMORY.sources, ...r.sources } });
      setError('');
      setSaved('Saved.');
      setTimeout(() => setSaved(''), 1500);
    } catch (e) {
      setError(errText(e));
    }
  };
  return (
    <section aria-labelledby="h-memory" class="space-y-3">
      <h2 id="h-memory" class="text-lg font-semibold">
        Memory
      </h2>
      <Err msg={error} />
      {m && (
        <>
          <label class="block">
            Your instructions (in every conversation’s prompt)
            <textarea class={field} name="memory_system" rows={3} value={system} onInput={(e) => setSystem(e.currentTarget.value)} onBlur={() => system !== m.system && void put({ system })} />
          </label>
          <SourceSwitchesView legend="What goes into a prompt (your defaults; each chat can change them)" value={m.sources} onChange={(s) => void put({ sources: { ...m.sources, ...s } })} />
          <label class="block">
            A new topic in a thread
            <select class={field} name="auto_thread" value={m.auto_thread} onChange={(e) => void put({ auto_thread: e.currentTarget.value as MemorySettings['auto_thread'] })}>
              <option value="off">Do nothing</option>
              <option value="suggest">Suggest a new thread</option>
              <option value="new">Start a new thread</option>
            </select>
          </label>
          <label class="block">
            Topic distance that counts as new ({m.auto_thread_distance.toFixed(2)})
            <input
              type="range"
              class="block w-full"
              name="auto_thread_distance"
              min="0.05"
              max="2"
              step="0.05"
              value={m.auto_thread_distance}
              onChange={(e) => void put({ auto_thread_distance: Number(e.currentTarget.value) })}
            />
          </label>
          <label class="block">
            Summarize a thread after this many new messages (0: only when asked)
            <input
              type="number"
              class={field}
              name="summary_after"
              min="0"
              max="1000"
              value={m.summary_after}
              onChange={(e) => void put({ summary_after: Math.max(0, Math.min(1000, Math.round(Number(e.currentTarget.value) || 0))) })}
            />
          </label>
          <p role="status" class="text-sm text-zinc-700 dark:text-zinc-300">
            {saved}
          </p>
        </>
      )}
    </section>
  );
}

function StyleEditor({ initial, onSave, onCancel }: { initial: { name: string; description: string; prompt: string }; onSave: (s: { name: string; description: string; prompt: string }) => Promise<void>; onCancel: () => void }) {
  const [v, setV] = useState(initial);
  const [error, setError] = useState('');
  return (
    <form
      class="style-editor space-y-2 rounded-md border border-zinc-300 p-2 dark:border-zinc-700"
      aria-label="Edit a style"
      onSubmit={(e) => {
        e.preventDefault();
        if (!v.name.trim() || !v.prompt.trim()) {
          setError('A style needs a name and instructions.');
          return;
        }
        onSave({ name: v.name.trim(), description: v.description.trim(), prompt: v.prompt }).catch((x: unknown) => setError(errText(x)));
      }}
    >
      <label class="block">
        Style name
        <input class={field} name="style_name" value={v.name} onInput={(e) => setV({ ...v, name: e.currentTarget.value })} />
      </label>
      <label class="block">
        Description
        <input class={field} name="style_description" value={v.description} onInput={(e) => setV({ ...v, description: e.currentTarget.value })} />
      </label>
      <label class="block">
        Instructions
        <textarea class={field} name="style_prompt" rows={6} value={v.prompt} onInput={(e) => setV({ ...v, prompt: e.currentTarget.value })} />
      </label>
      <Err msg={error} />
      <div class="flex gap-2">
        <button type="submit" class="rounded bg-amber-800 px-3 py-1 text-sm text-white">
          Save style
        </button>
        <button type="button" class={btn} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function StylesSection({ session }: { session: Session }) {
  const [styles, setStyles] = useState<Style[] | null>(null);
  const [error, setError] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const [editing, setEditing] = useState<{ id: string | null; name: string; description: string; prompt: string } | null>(null);
  const load = () =>
    call<{ data: Style[] }>(session, 'GET', '/chat/styles').then(
      (r) => {
        setStyles(r.data);
        setError('');
      },
      (e: unknown) => setError(errText(e)),
    );
  useEffect(() => void load(), []);
  const save = async (v: { name: string; description: string; prompt: string }) => {
    if (editing?.id) await call<Style>(session, 'PATCH', `/chat/styles/${editing.id}`, v);
    else await call<Style>(session, 'POST', '/chat/styles', v);
    setEditing(null);
    await load();
  };
  const remove = async (s: Style) => {
    try {
      await call(session, 'DELETE', `/chat/styles/${s.id}`);
      await load();
    } catch (e) {
      setError(errText(e));
    }
  };
  return (
    <section aria-labelledby="h-styles" class="space-y-2">
      <h2 id="h-styles" class="text-lg font-semibold">
        Thinking styles
      </h2>
      <p class="text-sm text-zinc-700 dark:text-zinc-300">Each chat (or one message) can answer in a style. Read what a style tells the model; copy one to make it your own.</p>
      <Err msg={error} />
      <ul class="space-y-2">
        {styles?.map((s) => (
          <li key={s.id} class="style-item rounded-md border border-zinc-300 p-2 dark:border-zinc-700" data-style={s.id}>
            <div class="flex flex-wrap items-center gap-2">
              <span class="flex-1 font-medium">
                {s.name} {!s.builtin && <span class="text-xs font-normal text-zinc-700 dark:text-zinc-300">(yours)</span>}
              </span>
              <button type="button" class={btn} aria-expanded={open === s.id} onClick={() => setOpen(open === s.id ? null : s.id)}>
                {open === s.id ? 'Hide' : 'Read'} {s.name}
              </button>
              <button type="button" class={btn} onClick={() => setEditing({ id: null, name: `My ${s.name}`, description: s.description, prompt: s.prompt })}>
                Copy into my own style
              </button>
              {!s.builtin && (
                <>
                  <button type="button" class={btn} onClick={() => setEditing({ id: s.id, name: s.name, description: s.description, prompt: s.prompt })}>
                    Edit {s.name}
                  </button>
                  <button type="button" class={btn} onClick={() => void remove(s)}>
                    Delete {s.name}
                  </button>
                </>
              )}
            </div>
            {s.description && <p class="text-sm text-zinc-700 dark:text-zinc-300">{s.description}</p>}
            {open === s.id && <pre class="style-prompt mt-1 whitespace-pre-wrap rounded bg-zinc-100 p-2 font-sans text-sm dark:bg-zinc-800">{s.prompt || '(no instructions)'}</pre>}
          </li>
        ))}
      </ul>
      {editing ? (
        <StyleEditor initial={editing} onSave={save} onCancel={() => setEditing(null)} />
      ) : (
        <button type="button" class={btn} onClick={() => setEditing({ id: null, name: '', description: '', prompt: '' })}>
          New style
        </button>
      )}
    </section>
  );
}

export function GlossarySection({ session }: { session: Session }) {
  const [list, setList] = useState<GlossaryEntry[] | null>(null);
  const [error, setError] = useState('');
  const [term, setTerm] = useState('');
  const [def, setDef] = useState('');
  const [q, setQ] = useState('');
  const [editing, setEditing] = useState<GlossaryEntry | null>(null);
  const load = () =>
    call<{ data: GlossaryEntry[] }>(session, 'GET', `/chat/glossary${q.trim() ? `?q=${encodeURIComponent(q.trim())}` : ''}`).then(
      (r) => {
        setList(r.data);
        setError('');
      },
      (e: unknown) => setError(errText(e)),
    );
  useEffect(() => {
    const t = setTimeout(() => void load(), q ? 200 : 0);
    return () => clearTimeout(t);
  }, [q]);
  const add = async () => {
    if (!term.trim() || !def.trim()) {
      setError('A term needs a definition.');
      return;
    }
    try {
      await call<GlossaryEntry>(session, 'POST', '/chat/glossary', { term: term.trim(), definition: def.trim() });
      setTerm('');
      setDef('');
      await load();
    } catch (e) {
      setError(errText(e));
    }
  };
  const saveEdit = async () => {
    if (!editing) return;
    try {
      await call<GlossaryEntry>(session, 'PATCH', `/chat/glossary/${editing.id}`, { term: editing.term.trim(), definition: editing.definition.trim() });
      setEditing(null);
      await load();
    } catch (e) {
      setError(errText(e));
    }
  };
  const remove = async (g: GlossaryEntry) => {
    try {
      await call(session, 'DELETE', `/chat/glossary/${g.id}`);
      await load();
    } catch (e) {
      setError(errText(e));
    }
  };
  return (
    <section aria-labelledby="h-glossary" class="space-y-2" id="glossary">
      <h2 id="h-glossary" class="text-lg font-semibold">
        Glossary
      </h2>
      <p class="text-sm text-zinc-700 dark:text-zinc-300">Terms you use, with what you mean by them: a term that appears in a chat puts its definition into the prompt.</p>
      <Err msg={error} />
      <form
        class="flex flex-wrap items-end gap-2"
        aria-label="Add a term"
        onSubmit={(e) => {
          e.preventDefault();
          void add();
        }}
      >
        <label class="block">
          Term
          <input class={field} name="glossary_term" maxLength={200} value={term} onInput={(e) => setTerm(e.currentTarget.value)} />
        </label>
        <label class="block min-w-[12rem] flex-1">
          Definition
          <input class={field} name="glossary_definition" maxLength={4000} value={def} onInput={(e) => setDef(e.currentTarget.value)} />
        </label>
        <button type="submit" class="rounded bg-amber-800 px-3 py-1 text-sm text-white">
          Add term
        </button>
      </form>
      <input type="search" aria-label="Find a term" placeholder="Find a term" class={field} value={q} onInput={(e) => setQ(e.currentTarget.value)} />
      {list && list.length === 0 && <p class="text-sm">{q ? 'No term starts so.' : 'No terms yet.'}</p>}
      <ul class="space-y-1">
        {list?.map((g) =>
          editing?.id === g.id ? (
            <li key={g.id} class="glossary-entry rounded-md border border-zinc-300 p-2 dark:border-zinc-700">
              <form
                class="space-y-1"
                aria-label={`Edit ${g.term}`}
                onSubmit={(e) => {
                  e.preventDefault();
                  void saveEdit();
                }}
              >
                <label class="block">
                  Term
                  <input class={field} value={editing.term} onInput={(e) => setEditing({ ...editing, term: e.currentTarget.value })} />
                </label>
                <label class="block">
                  Definition
                  <textarea class={field} rows={2} value={editing.definition} onInput={(e) => setEditing({ ...editing, definition: e.currentTarget.value })} />
                </label>
                <div class="flex gap-2">
                  <button type="submit" class="rounded bg-amber-800 px-3 py-1 text-sm text-white">
                    Save term
                  </button>
                  <button type="button" class={btn} onClick={() => setEditing(null)}>
                    Cancel
                  </button>
                </div>
              </form>
            </li>
          ) : (
            <li key={g.id} class="glossary-entry flex flex-wrap items-start gap-2 rounded-md border border-zinc-300 p-2 dark:border-zinc-700" data-term={g.term}>
              <span class="min-w-0 flex-1">
                <span class="font-medium">{g.term}</span>: {g.definition}
              </span>
              <button type="button" class={btn} onClick={() => setEditing({ ...g })}>
                Edit {g.term}
              </button>
              <button type="button" class={btn} onClick={() => void remove(g)}>
                Delete {g.term}
              </button>
            </li>
          ),
        )}
      </ul>
    </section>
  );
}

/** Every rated answer of the user with its rating and flags (GET /chat/ratings/export), saved as a file. */
export function RatingsExport({ session }: { session: Session }) {
  const [error, setError] = useState('');
  const save = async (format: 'json' | 'csv') => {
    try {
      const r = await session.fetch(`/chat/ratings/export?format=${format}`);
      if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
      const url = URL.createObjectURL(await r.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = `ratings.${format}`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
      setError('');
    } catch (e) {
      setError(errText(e));
    }
  };
  return (
    <section aria-labelledby="h-ratings-export" class="space-y-2">
      <h2 id="h-ratings-export" class="text-lg font-semibold">
        Your ratings
      </h2>
      <p class="text-sm text-zinc-700 dark:text-zinc-300">Every answer you rated, with its confidence, thumbs and flagged assumptions.</p>
      <div class="flex gap-2">
        <button type="button" class={btn} onClick={() => void save('json')}>
          Export as JSON
        </button>
        <button type="button" class={btn} onClick={() => void save('csv')}>
          Export as CSV
        </button>
      </div>
      <Err msg={error} />
    </section>
  );
}
