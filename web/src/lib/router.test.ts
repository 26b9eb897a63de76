import { describe, expect, it } from 'vitest';
import { parseRoute, routePath } from './router';

describe('routes', () => {
  it('reads the app paths', () => {
    expect(parseRoute('/')).toEqual({ name: 'chat', id: null });
    expect(parseRoute('/c/42')).toEqual({ name: 'chat', id: 42 });
    expect(parseRoute('/c/42/')).toEqual({ name: 'chat', id: 42 });
    expect(parseRoute('/admin')).toEqual({ name: 'admin' });
    expect(parseRoute('/settings')).toEqual({ name: 'settings' });
    expect(parseRoute('/library')).toEqual({ name: 'library' });
    expect(parseRoute('/library/search')).toEqual({ name: 'search' });
    expect(parseRoute('/search')).toEqual({ name: 'notfound', path: '/search' });
    expect(parseRoute('/c/abc')).toEqual({ name: 'notfound', path: '/c/abc' });
  });
  it('writes them back', () => {
    for (const p of ['/', '/c/42', '/admin', '/settings', '/library', '/library/search']) expect(routePath(parseRoute(p))).toBe(p);
  });
});
