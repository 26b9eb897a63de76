import { useEffect, useState } from 'preact/hooks';
import type { Model } from './lib/api';
import { Session, call } from './lib/api';
import type { Route } from './lib/router';
import { currentRoute, navigate, onRoute } from './lib/router';
import { loadPrefs, savePrefs } from './lib/settings';
import { applyTheme, resolveTheme } from './theme';
import { AuthForm } from './components/AuthForm';
import { Chat } from './components/Chat';
import { Sidebar } from './components/Sidebar';
import { Admin } from './components/Admin';
import { SettingsPage } from './components/SettingsPage';
import { Library } from './components/Library';
import { SearchPage } from './components/SearchPage';
import { Survival } from './components/Survival';
import { onStatusChanged } from './lib/bus';

const session = new Session();
const link = 'block rounded px-2 py-1 text-sm hover:bg-zinc-200 focus-visible:outline-2 focus-visible:outline-amber-600 dark:hover:bg-zinc-800';

function go(e: MouseEvent, path: string, after: () => void) {
  if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(path);
  after();
}

function OfflineBadge() {
  return (
    <span class="offline-badge rounded-full bg-zinc-800 px-2 py-0.5 text-xs font-semibold text-white dark:bg-zinc-200 dark:text-zinc-900" role="status" title="The server is offline: it makes no network connections">
      Offline
    </span>
  );
}

function Shell() {
  const [route, setRoute] = useState<Route>(currentRoute());
  const [models, setModels] = useState<Model[]>([]);
  const [open, setOpen] = useState(false); // the sidebar on a phone
  const [dark, setDark] = useState(document.documentElement.classList.contains('dark'));
  const [offline, setOffline] = useState(false);
  useEffect(() => {
    // GET /status says whether the server is offline (docs/memory.md "Offline mode")
    const ask = () =>
      void call<{ offline?: boolean }>(session, 'GET', '/status').then(
        (r) => setOffline(r.offline === true),
        () => {},
      );
    ask();
    const t = setInterval(ask, 30000);
    const off = onStatusChanged(ask);
    return () => {
      clearInterval(t);
      off();
    };
  }, []);
  useEffect(() => onRoute(() => setRoute(currentRoute())), []);
  useEffect(() => {
    // a server still loading its models answers an empty list: ask again a few times
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ask = (left: number) =>
      void call<{ data: Model[] }>(session, 'GET', '/v1/models').then(
        (r) => {
          setModels(r.data);
          if (r.data.length === 0 && left > 0) timer = setTimeout(() => ask(left - 1), 3000);
        },
        () => {
          if (left > 0) timer = setTimeout(() => ask(left - 1), 3000);
        },
      );
    ask(5);
    return () => clearTimeout(timer);
  }, []);
  useEffect(() => {
    if (!open) return;
    document.getElementById('sidebar-close')?.focus(); // the keyboard follows the panel
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(false);
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [open]);
  const close = () => setOpen(false);
  const admin = session.user?.role === 'admin';
  const activeId = route.name === 'chat' ? route.id : null;

  let content;
  switch (route.name) {
    case 'chat':
      content = <Chat session={session} id={route.id} models={models} onMenu={() => setOpen(true)} />;
      break;
    case 'admin':
      content = <Admin session={session} models={models} onMenu={() => setOpen(true)} />;
      break;
    case 'settings':
      content = <SettingsPage session={session} models={models} onMenu={() => setOpen(true)} />;
      break;
    case 'library':
      content = <Library session={session} onMenu={() => setOpen(true)} />;
      break;
    case 'search':
      content = <SearchPage session={session} onMenu={() => setOpen(true)} />;
      break;
    case 'survival':
      content = <Survival session={session} onMenu={() => setOpen(true)} />;
      break;
    default:
      content = (
        <div class="p-6">
          <h1 class="mb-2 text-xl font-semibold">Not found</h1>
          <p>
            Nothing here at {route.path}.{' '}
            <a class="underline" href="/" onClick={(e) => go(e, '/', close)}>
              Back to the chat
            </a>
          </p>
        </div>
      );
  }

  return (
    <div class="flex h-dvh">
      {open && <div class="fixed inset-0 z-10 bg-black/40 md:hidden" onClick={close} aria-hidden="true" />}
      <aside
        id="sidebar"
        aria-label="Sidebar"
        class={`${open ? 'fixed inset-y-0 left-0 z-20 flex' : 'hidden'} w-72 max-w-[85vw] flex-col border-r border-zinc-300 bg-zinc-50 md:static md:flex dark:border-zinc-700 dark:bg-zinc-900`}
      >
        <div class="flex items-center justify-between px-3 pt-3">
          <a href="/" class="text-lg font-bold" onClick={(e) => go(e, '/', close)}>
            RustyGPT
          </a>
          {offline && <OfflineBadge />}
          <button type="button" id="sidebar-close" class="rounded px-2 py-1 md:hidden" aria-label="Close conversations" onClick={close}>
            ✕
          </button>
        </div>
        <div class="min-h-0 flex-1">
          <Sidebar session={session} activeId={activeId} onNavigate={close} />
        </div>
        <div class="space-y-1 border-t border-zinc-300 p-2 dark:border-zinc-700">
          <a href="/library" class={link} aria-current={route.name === 'library' ? 'page' : undefined} onClick={(e) => go(e, '/library', close)}>
            Library
          </a>
          <a href="/library/search" class={link} aria-current={route.name === 'search' ? 'page' : undefined} onClick={(e) => go(e, '/library/search', close)}>
            Search the library
          </a>
          <a href="/survival" class={link} aria-current={route.name === 'survival' ? 'page' : undefined} onClick={(e) => go(e, '/survival', close)}>
            Survival
          </a>
          <a href="/settings" class={link} aria-current={route.name === 'settings' ? 'page' : undefined} onClick={(e) => go(e, '/settings', close)}>
            Settings
          </a>
          <a href="/admin" class={link} aria-current={route.name === 'admin' ? 'page' : undefined} onClick={(e) => go(e, '/admin', close)}>
            {admin ? 'Admin' : 'Account'}
          </a>
          <button
            type="button"
            class={`${link} w-full text-left`}
            onClick={() => {
              const t = dark ? 'light' : 'dark';
              applyTheme(t);
              savePrefs({ ...loadPrefs(), theme: t });
              setDark(!dark);
            }}
          >
            {dark ? 'Light' : 'Dark'} theme
          </button>
          <p class="truncate px-2 text-xs text-zinc-700 dark:text-zinc-300">{session.user?.email}</p>
          <button type="button" class={`${link} w-full text-left`} onClick={() => void session.logout()}>
            Sign out
          </button>
        </div>
      </aside>
      <main class="flex min-w-0 flex-1 flex-col">
        {offline && (
          <div class="offline-bar flex items-center gap-2 border-b border-zinc-300 bg-zinc-100 px-3 py-1 text-sm md:hidden dark:border-zinc-700 dark:bg-zinc-900">
            <OfflineBadge /> the server makes no network connections
          </div>
        )}
        <div class="min-h-0 flex-1">{content}</div>
      </main>
    </div>
  );
}

export function App() {
  const [, tick] = useState(0);
  const [ready, setReady] = useState(false);
  useEffect(() => {
    const off = session.onChange(() => tick((n) => n + 1));
    // a cookie from an earlier visit may still sign us in
    void session.refresh().finally(() => setReady(true));
    return off;
  }, []);
  useEffect(() => {
    // the theme follows the system when that is the choice
    const mq = matchMedia('(prefers-color-scheme: dark)');
    const on = () => loadPrefs().theme === 'system' && applyTheme(resolveTheme('system'));
    mq.addEventListener('change', on);
    return () => mq.removeEventListener('change', on);
  }, []);
  if (!ready)
    return (
      <main class="pt-16 text-center">
        <p class="text-zinc-700 dark:text-zinc-300">Loading…</p>
      </main>
    );
  return session.user ? <Shell /> : <AuthForm session={session} />;
}
