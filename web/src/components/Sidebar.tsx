import { useEffect, useRef, useState } from 'preact/hooks';
import type { Session } from '../lib/api';
import { call } from '../lib/api';
import type { Conversation } from '../lib/conv';
import { displayTitle, groupConversations } from '../lib/conv';
import { listChanged, onListChanged } from '../lib/bus';
import { navigate } from '../lib/router';
import { CONV_TYPES, typeLabel } from '../lib/memory';

const btn = 'rounded px-2 py-1 text-sm hover:bg-zinc-200 focus-visible:outline-2 focus-visible:outline-amber-600 dark:hover:bg-zinc-800';

function Item({ c, session, active, onError }: { c: Conversation; session: Session; active: boolean; onError: (m: string) => void }) {
  const [menu, setMenu] = useState(false);
  const [renaming, setRenaming] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [name, setName] = useState(c.title);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (renaming) input.current?.focus();
  }, [renaming]);
  const patch = async (body: Record<string, unknown>) => {
    try {
      await call(session, 'PATCH', `/chat/conversations/${c.id}`, body);
      listChanged();
    } catch (e) {
      onError(e instanceof Error ? e.message : String(e));
    }
  };
  const title = displayTitle(c);
  if (renaming)
    return (
      <li class="px-1 py-1">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            setRenaming(false);
            if (name.trim() && name !== c.title) void patch({ title: name.trim() });
          }}
        >
          <input
            ref={input}
            aria-label="New title"
            class="w-full rounded border border-zinc-400 bg-white px-2 py-1 text-sm dark:bg-zinc-800"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Escape') {
                setRenaming(false);
                setName(c.title);
              }
            }}
            onBlur={() => setRenaming(false)}
          />
        </form>
      </li>
    );
  return (
    <li class="group" data-conv={c.id}>
      <div class={`flex items-center rounded ${active ? 'bg-zinc-200 dark:bg-zinc-800' : ''}`}>
        <a
          href={`/c/${c.id}`}
          class="min-w-0 flex-1 truncate px-2 py-1.5 text-sm focus-visible:outline-2 focus-visible:outline-amber-600"
          aria-current={active ? 'page' : undefined}
          onClick={(e) => {
            if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
            e.preventDefault();
            navigate(`/c/${c.id}`);
          }}
        >
          {title}
          {c.type && <span class="type-badge ml-1 rounded-full border border-zinc-500 px-1.5 text-[0.7rem] text-zinc-700 dark:text-zinc-300">{typeLabel(c.type)}</span>}
          {c.match?.snippet && <span class="block truncate text-xs text-zinc-600 dark:text-zinc-400">{c.match.snippet}</span>}
        </a>
        <button type="button" class={btn} aria-label={`Actions for ${title}`} aria-expanded={menu} onClick={() => setMenu(!menu)}>
          ⋯
        </button>
      </div>
      {menu && (
        <div class="mb-1 ml-2 flex flex-wrap gap-1" role="group" aria-label={`Actions for ${title}`}>
          <button type="button" class={btn} onClick={() => { setMenu(false); setName(c.title); setRenaming(true); }}>
            Rename
          </button>
          <button type="button" class={btn} onClick={() => { setMenu(false); void patch({ pinned: !c.pinned }); }}>
            {c.pinned ? 'Unpin' : 'Pin'}
          </button>
          <button type="button" class={btn} onClick={() => { setMenu(false); void patch({ archived: !c.archived }); }}>
            {c.archived ? 'Unarchive' : 'Archive'}
          </button>
          {confirmDelete ? (
            <>
              <button
                type="button"
                class={`${btn} text-red-800 dark:text-red-300`}
                onClick={async () => {
                  setMenu(false);
                  setConfirmDelete(false);
                  try {
                    await call(session, 'DELETE', `/chat/conversations/${c.id}`);
                    if (active) navigate('/');
                    listChanged();
                  } catch (e) {
                    onError(e instanceof Error ? e.message : String(e));
                  }
                }}
              >
                Yes, delete
              </button>
              <button type="button" class={btn} onClick={() => setConfirmDelete(false)}>
                Keep
              </button>
            </>
          ) : (
            <button type="button" class={btn} onClick={() => setConfirmDelete(true)}>
              Delete
            </button>
          )}
        </div>
      )}
    </li>
  );
}

export function Sidebar({ session, activeId, onNavigate }: { session: Session; activeId: number | null; onNavigate: () => void }) {
  const [list, setList] = useState<Conversation[]>([]);
  const [q, setQ] = useState('');
  const [archived, setArchived] = useState(false);
  const [type, setType] = useState('');
  const [error, setError] = useState('');
  const [loaded, setLoaded] = useState(false);
  const [limit, setLimit] = useState(100);
  const [more, setMore] = useState(false);
  const seq = useRef(0);

  const load = async () => {
    const n = ++seq.current;
    const params = new URLSearchParams({ limit: String(limit), archived: archived ? '1' : '0' });
    if (q.trim()) params.set('q', q.trim());
    if (type) params.set('type', type);
    try {
      const r = await call<{ data: Conversation[]; has_more?: boolean }>(session, 'GET', `/chat/conversations?${params}`);
      if (n !== seq.current) return; // a newer search answered first
      setList(r.data);
      setMore(!!r.has_more);
      setError('');
    } catch (e) {
      if (n === seq.current) setError(e instanceof Error ? e.message : String(e));
    } finally {
      if (n === seq.current) setLoaded(true);
    }
  };
  useEffect(() => {
    const t = setTimeout(() => void load(), q ? 200 : 0);
    return () => clearTimeout(t);
  }, [q, archived, limit, type]);
  useEffect(() => onListChanged(() => void load()), [q, archived, limit, type]);

  const groups = groupConversations(list, Date.now());
  return (
    <nav aria-label="Conversations" class="flex h-full flex-col gap-2 p-2">
      <button
        type="button"
        class="rounded-md border border-zinc-400 px-3 py-2 text-left text-sm font-medium hover:bg-zinc-200 focus-visible:outline-2 focus-visible:outline-amber-600 dark:border-zinc-600 dark:hover:bg-zinc-800"
        onClick={() => {
          navigate('/');
          onNavigate();
          setTimeout(() => document.getElementById('message-box')?.focus(), 0);
        }}
      >
        + New chat
      </button>
      <input
        type="search"
        aria-label="Search conversations"
        placeholder="Search"
        class="rounded-md border border-zinc-400 bg-white px-2 py-1 text-sm dark:border-zinc-600 dark:bg-zinc-800"
        value={q}
        onInput={(e) => setQ(e.currentTarget.value)}
      />
      {error && (
        <p role="alert" class="text-sm text-red-800 dark:text-red-300">
          {error}{' '}
          <button type="button" class="underline" onClick={() => void load()}>
            Retry
          </button>
        </p>
      )}
      <div class="min-h-0 flex-1 overflow-y-auto" onClick={(e) => (e.target as HTMLElement).closest('a') && onNavigate()}>
        {loaded && list.length === 0 && <p class="px-2 text-sm text-zinc-600 dark:text-zinc-400">{q || type ? 'Nothing found.' : archived ? 'No archived chats.' : 'No chats yet.'}</p>}
        {groups.map((g) => (
          <section key={g.group} aria-label={g.group}>
            <h2 class="mt-2 px-2 text-xs font-semibold text-zinc-700 dark:text-zinc-300">{g.group}</h2>
            <ul>
              {g.items.map((c) => (
                <Item key={c.id} c={c} session={session} active={c.id === activeId} onError={setError} />
              ))}
            </ul>
          </section>
        ))}
        {more && (
          <button type="button" class={`${btn} mt-2 w-full underline`} onClick={() => setLimit((l) => Math.min(200, l + 100))}>
            Show more
          </button>
        )}
      </div>
      <select
        name="type_filter"
        aria-label="Show conversations of type"
        class="rounded-md border border-zinc-400 bg-white px-2 py-1 text-sm dark:border-zinc-600 dark:bg-zinc-800"
        value={type}
        onChange={(e) => setType(e.currentTarget.value)}
      >
        <option value="">All types</option>
        {CONV_TYPES.map((t) => (
          <option key={t.id} value={t.id}>
            {t.label}
          </option>
        ))}
      </select>
      <label class="flex items-center gap-2 px-2 text-sm">
        <input type="checkbox" checked={archived} onChange={(e) => setArchived(e.currentTarget.checked)} />
        Show archived
      </label>
    </nav>
  );
}
