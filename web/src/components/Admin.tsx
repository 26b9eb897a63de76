import { useEffect, useState } from 'preact/hooks';
import type { AdminUser, ApiKey, DeviceSession, Model, Session } from '../lib/api';
import { call } from '../lib/api';
import type { RatingSummary } from '../lib/memory';
import { statusChanged } from '../lib/bus';

const btn =
  'rounded border border-zinc-500 px-2 py-0.5 text-sm hover:bg-zinc-200 focus-visible:outline-2 focus-visible:outline-amber-600 disabled:opacity-70 dark:hover:bg-zinc-800';
const cell = 'border-b border-zinc-300 px-2 py-1 text-left dark:border-zinc-700';
const when = (s: number | null) => (s ? new Date(s * 1000).toLocaleString() : '—');

function useLoad<T>(fn: () => Promise<T>): [T | null, string, () => void] {
  const [v, setV] = useState<T | null>(null);
  const [err, setErr] = useState('');
  const load = () =>
    void fn().then(
      (x) => {
        setV(x);
        setErr('');
      },
      (e: unknown) => setErr(e instanceof Error ? e.message : String(e)),
    );
  useEffect(load, []);
  return [v, err, load];
}

function Err({ msg, retry }: { msg: string; retry?: () => void }) {
  if (!msg) return null;
  return (
    <p role="alert" class="my-2 rounded bg-red-100 px-2 py-1 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
      {msg}{' '}
      {retry && (
        <button type="button" class="underline" onClick={retry}>
          Retry
        </button>
      )}
    </p>
  );
}

function Users({ session }: { session: Session }) {
  const [users, err, reload] = useLoad(() => call<{ data: AdminUser[] }>(session, 'GET', '/admin/users'));
  const [opErr, setOpErr] = useState('');
  const patch = async (u: AdminUser, body: { role?: string; disabled?: boolean; approved?: boolean }) => {
    try {
      await call(session, 'PATCH', `/admin/users/${u.id}`, body);
      setOpErr('');
      reload();
    } catch (e) {
      setOpErr(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <section aria-labelledby="h-users" class="mb-8">
      <h2 id="h-users" class="mb-2 text-lg font-semibold">Users</h2>
      <Err msg={err} retry={reload} />
      <Err msg={opErr} />
      {users && (
        <div class="overflow-x-auto">
          <table class="w-full text-sm">
            <thead>
              <tr>
                <th class={cell}>Email</th>
                <th class={cell}>Name</th>
                <th class={cell}>Role</th>
                <th class={cell}>State</th>
                <th class={cell}>Actions</th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.id} data-user={u.email}>
                  <td class={cell}>{u.email}</td>
                  <td class={cell}>{u.name}</td>
                  <td class={cell}>
                    <select
                      aria-label={`Role of ${u.email}`}
                      class="rounded border border-zinc-500 bg-white px-1 dark:bg-zinc-800"
                      value={u.role}
                      disabled={u.id === session.user?.id}
                      onChange={(e) => void patch(u, { role: e.currentTarget.value })}
                    >
                      <option value="admin">admin</option>
                      <option value="user">user</option>
                      <option value="readonly">readonly</option>
                    </select>
                  </td>
                  <td class={cell}>{u.pending ? 'waiting for approval' : u.disabled ? 'disabled' : 'active'}</td>
                  <td class={cell}>
                    {u.pending && (
                      <button type="button" class={btn} onClick={() => void patch(u, { approved: true })}>
                        Approve {u.email}
                      </button>
                    )}{' '}
                    {u.id !== session.user?.id && (
                      <button type="button" class={btn} onClick={() => void patch(u, { disabled: !u.disabled })}>
                        {u.disabled ? 'Enable' : 'Disable'} {u.email}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Keys({ session }: { session: Session }) {
  const [keys, err, reload] = useLoad(() => call<{ data: ApiKey[] }>(session, 'GET', '/auth/api-keys'));
  const [name, setName] = useState('');
  const [made, setMade] = useState<ApiKey | null>(null);
  const [opErr, setOpErr] = useState('');
  const canWrite = session.user?.role !== 'readonly';
  return (
    <section aria-labelledby="h-keys" class="mb-8">
      <h2 id="h-keys" class="mb-2 text-lg font-semibold">API keys</h2>
      <Err msg={err} retry={reload} />
      <Err msg={opErr} />
      {canWrite && (
        <form
          class="mb-2 flex flex-wrap items-end gap-2"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              const k = await call<ApiKey>(session, 'POST', '/auth/api-keys', { name: name.trim() || 'web' });
              setMade(k);
              setName('');
              setOpErr('');
              reload();
            } catch (x) {
              setOpErr(x instanceof Error ? x.message : String(x));
            }
          }}
        >
          <label class="text-sm">
            Key name
            <input class="ml-2 rounded border border-zinc-500 bg-white px-2 py-0.5 dark:bg-zinc-800" value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          <button type="submit" class={btn}>
            Create key
          </button>
        </form>
      )}
      {made?.key && (
        <div role="status" class="mb-2 rounded bg-amber-100 p-2 text-sm text-amber-950 dark:bg-amber-950 dark:text-amber-100">
          <p>The new key, shown only this once. Copy it now:</p>
          <code class="new-key block break-all font-mono">{made.key}</code>
          <button type="button" class="mt-1 underline" onClick={() => setMade(null)}>
            I have copied it
          </button>
        </div>
      )}
      {keys && keys.data.length === 0 && <p class="text-sm">No keys.</p>}
      {keys && keys.data.length > 0 && (
        <ul class="text-sm">
          {keys.data.map((k) => (
            <li key={k.id} class="flex flex-wrap items-center gap-2 border-b border-zinc-300 py-1 dark:border-zinc-700" data-key={k.id}>
              <span class="font-medium">{k.name}</span>
              <code>{k.prefix}…</code>
              <span class="text-zinc-700 dark:text-zinc-300">made {when(k.created_at)}, used {when(k.last_used_at)}</span>
              {canWrite && (
                <button
                  type="button"
                  class={btn}
                  onClick={async () => {
                    try {
                      await call(session, 'DELETE', `/auth/api-keys/${k.id}`);
                      reload();
                    } catch (x) {
                      setOpErr(x instanceof Error ? x.message : String(x));
                    }
                  }}
                >
                  Revoke {k.name}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Sessions({ session }: { session: Session }) {
  const [list, err, reload] = useLoad(() => call<{ data: DeviceSession[] }>(session, 'GET', '/auth/sessions'));
  const [note, setNote] = useState('');
  const [opErr, setOpErr] = useState('');
  const op = async (f: () => Promise<void>) => {
    try {
      await f();
      setOpErr('');
      reload();
    } catch (x) {
      setOpErr(x instanceof Error ? x.message : String(x));
    }
  };
  return (
    <section aria-labelledby="h-sessions" class="mb-8">
      <h2 id="h-sessions" class="mb-2 text-lg font-semibold">Signed-in devices</h2>
      <Err msg={err} retry={reload} />
      <Err msg={opErr} />
      {list && (
        <ul class="text-sm">
          {list.data.map((s) => (
            <li key={s.id} class="flex flex-wrap items-center gap-2 border-b border-zinc-300 py-1 dark:border-zinc-700">
              <span class="min-w-0 flex-1 truncate">{s.user_agent || 'unknown device'}</span>
              <span class="text-zinc-700 dark:text-zinc-300">last used {when(s.last_used_at)}</span>
              {s.current ? (
                <strong>this device</strong>
              ) : (
                <button type="button" class={btn} onClick={() => void op(() => call(session, 'DELETE', `/auth/sessions/${s.id}`))}>
                  Sign out device {s.id}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      <button
        type="button"
        class={`${btn} mt-2`}
        onClick={() =>
          void op(async () => {
            const r = await call<{ revoked: number }>(session, 'POST', '/auth/sessions/revoke-others');
            setNote(`${r.revoked} other device${r.revoked === 1 ? '' : 's'} signed out.`);
          })
        }
      >
        Sign out all other devices
      </button>
      {note && (
        <p role="status" class="mt-1 text-sm">
          {note}
        </p>
      )}
    </section>
  );
}

interface Status {
  status: string;
  version: string;
  uptime_s: number;
  models: { id?: string; name?: string; state?: string }[] | Record<string, unknown>;
  slots: { busy: number; free: number };
  queue_depth: number;
  streams_open: number;
  memory: { rss_bytes: number };
  tokens: { prompt_total: number; generated_total: number; generated_per_s: number };
}

function Server({ session, models }: { session: Session; models: Model[] }) {
  const [st, err, reload] = useLoad(() => call<Status>(session, 'GET', '/status'));
  return (
    <section aria-labelledby="h-server" class="mb-8">
      <h2 id="h-server" class="mb-2 text-lg font-semibold">Models and server status</h2>
      <ul class="mb-2 text-sm">
        {models.map((m) => (
          <li key={m.id}>
            <span class="font-medium">{m.id}</span>
            {m.context_length ? ` · context ${m.context_length} tokens` : ''} · {m.owned_by}
          </li>
        ))}
        {models.length === 0 && <li>No models loaded.</li>}
      </ul>
      <Err msg={err} retry={reload} />
      {st && (
        <dl class="server-status grid grid-cols-[auto_1fr] gap-x-4 text-sm">
          <dt>Status</dt>
          <dd>{st.status}</dd>
          <dt>Version</dt>
          <dd>{st.version}</dd>
          <dt>Up for</dt>
          <dd>{Math.round(st.uptime_s)} s</dd>
          <dt>Slots</dt>
          <dd>
            {st.slots.busy} busy, {st.slots.free} free; {st.queue_depth} queued
          </dd>
          <dt>Open streams</dt>
          <dd>{st.streams_open}</dd>
          <dt>Memory</dt>
          <dd>{(st.memory.rss_bytes / 1048576).toFixed(0)} MiB</dd>
          <dt>Tokens</dt>
          <dd>
            {st.tokens.prompt_total} read, {st.tokens.generated_total} generated
          </dd>
        </dl>
      )}
      <button type="button" class={`${btn} mt-2`} onClick={reload}>
        Refresh status
      </button>
    </section>
  );
}

/** The network switch (docs/memory.md "Offline mode"): offline, nothing of the server reaches the network. */
function Network({ session }: { session: Session }) {
  const [net, err, reload] = useLoad(() => call<{ offline: boolean }>(session, 'GET', '/admin/network'));
  const [opErr, setOpErr] = useState('');
  const [busy, setBusy] = useState(false);
  const [want, setWant] = useState<boolean | null>(null); // the switch as flipped, until the server says
  const flip = async (offline: boolean) => {
    setBusy(true);
    setWant(offline);
    try {
      await call(session, 'PUT', '/admin/network', { offline });
      setOpErr('');
      reload();
      statusChanged();
    } catch (e) {
      setOpErr(e instanceof Error ? e.message : String(e));
      setWant(null);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => setWant(null), [net]);
  return (
    <section aria-labelledby="h-network" class="mb-8">
      <h2 id="h-network" class="mb-2 text-lg font-semibold">Network</h2>
      <Err msg={err} retry={reload} />
      <Err msg={opErr} />
      {net && (
        <>
          <label class="flex items-center gap-2 text-sm">
            <input type="checkbox" role="switch" name="offline" checked={want ?? net.offline} disabled={busy} aria-checked={want ?? net.offline} onChange={(e) => void flip(e.currentTarget.checked)} />
            Offline mode (no model pulls, no GitHub or Apple sign-in, no URL fetches)
          </label>
          <p role="status" class="mt-1 text-sm">
            {net.offline ? 'The server is offline: every path that could reach the network refuses.' : 'The server may reach the network.'}
          </p>
        </>
      )}
    </section>
  );
}

/** Ratings of answers, summarised per model (GET /admin/ratings). */
function Ratings({ session }: { session: Session }) {
  const [r, err, reload] = useLoad(() => call<{ data: RatingSummary[] }>(session, 'GET', '/admin/ratings'));
  return (
    <section aria-labelledby="h-ratings" class="mb-8">
      <h2 id="h-ratings" class="mb-2 text-lg font-semibold">Ratings by model</h2>
      <Err msg={err} retry={reload} />
      {r && r.data.length === 0 && <p class="text-sm">No answer rated yet.</p>}
      {r && r.data.length > 0 && (
        <div class="overflow-x-auto">
          <table class="ratings w-full text-sm">
            <thead>
              <tr>
                <th class={cell}>Model</th>
                <th class={cell}>Answers rated</th>
                <th class={cell}>Average confidence</th>
                <th class={cell}>Thumbs up</th>
                <th class={cell}>Thumbs down</th>
                <th class={cell}>Assumptions flagged</th>
              </tr>
            </thead>
            <tbody>
              {r.data.map((x) => (
                <tr key={x.model} data-model={x.model}>
                  <td class={cell}>{x.model || '—'}</td>
                  <td class={cell}>{x.answers_rated}</td>
                  <td class={cell}>{x.avg_confidence === null || x.avg_confidence === undefined ? '—' : x.avg_confidence.toFixed(0)}</td>
                  <td class={cell}>{x.thumbs_up}</td>
                  <td class={cell}>{x.thumbs_down}</td>
                  <td class={cell}>{x.flags}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <button type="button" class={`${btn} mt-2`} onClick={reload}>
        Refresh ratings
      </button>
    </section>
  );
}

export function Admin({ session, models, onMenu }: { session: Session; models: Model[]; onMenu: () => void }) {
  const admin = session.user?.role === 'admin';
  return (
    <div class="h-full overflow-y-auto">
      <header class="flex items-center gap-2 border-b border-zinc-300 px-3 py-2 dark:border-zinc-700">
        <button type="button" class="rounded px-2 py-1 md:hidden" aria-label="Show conversations" aria-controls="sidebar" onClick={onMenu}>
          ☰
        </button>
        <h1 class="font-semibold">{admin ? 'Admin and account' : 'Account'}</h1>
      </header>
      <div class="mx-auto max-w-4xl p-4">
        {admin && <Users session={session} />}
        <Keys session={session} />
        <Sessions session={session} />
        <Server session={session} models={models} />
        {admin && <Network session={session} />}
        {admin && <Ratings session={session} />}
      </div>
    </div>
  );
}
