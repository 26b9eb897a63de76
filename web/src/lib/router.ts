/**
 * The app's own routes, on the History API: "/", "/c/{id}", "/admin",
 * "/settings", "/library", "/library/search", "/survival" (the server answers each with
 * index.html; "/search" itself is the API's search, so the page lives under
 * /library). Back and forward
 * come as popstate; links call navigate().
 */
export type Route = { name: 'chat'; id: number | null } | { name: 'admin' } | { name: 'settings' } | { name: 'library' } | { name: 'search' } | { name: 'survival' } | { name: 'notfound'; path: string };

export function parseRoute(path: string): Route {
  const p = path.replace(/\/+$/, '') || '/';
  if (p === '/') return { name: 'chat', id: null };
  const m = /^\/c\/(\d+)$/.exec(p);
  if (m) return { name: 'chat', id: Number(m[1]) };
  if (p === '/admin') return { name: 'admin' };
  if (p === '/settings') return { name: 'settings' };
  if (p === '/library') return { name: 'library' };
  if (p === '/library/search') return { name: 'search' };
  if (p === '/survival') return { name: 'survival' };
  return { name: 'notfound', path: p };
}

export function routePath(r: Route): string {
  switch (r.name) {
    case 'chat':
      return r.id ? `/c/${r.id}` : '/';
    case 'admin':
      return '/admin';
    case 'settings':
      return '/settings';
    case 'library':
      return '/library';
    case 'search':
      return '/library/search';
    case 'survival':
      return '/survival';
    case 'notfound':
      return r.path;
  }
}

const listeners = new Set<() => void>();

export function currentRoute(): Route {
  return parseRoute(location.pathname);
}

/** Goes to path (a new history entry; replace: the current one). */
export function navigate(path: string, replace = false) {
  if (path === location.pathname) return;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  for (const fn of listeners) fn();
}

export function onRoute(fn: () => void): () => void {
  listeners.add(fn);
  const pop = () => fn();
  window.addEventListener('popstate', pop);
  return () => {
    listeners.delete(fn);
    window.removeEventListener('popstate', pop);
  };
}
