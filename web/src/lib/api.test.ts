import { describe, expect, it } from 'vitest';
import { Session, readCookie, type SessionDeps, type TokenReply } from './api';

function tokens(n: number, expires = 900): TokenReply {
  return {
    access_token: `tok${n}`,
    token_type: 'Bearer',
    expires_in: expires,
    csrf_token: `csrf${n}`,
    user: { id: 1, email: 'a@example.com', name: 'A', role: 'user' },
  };
}

/* A fake server: answers by path, records what it was sent. */
function fake(routes: Record<string, (init: RequestInit) => Response>) {
  const calls: { path: string; init: RequestInit }[] = [];
  let now = 1_000_000;
  const timers: { fn: () => void; at: number }[] = [];
  const deps: SessionDeps = {
    fetch: (async (path: string, init: RequestInit = {}) => {
      calls.push({ path, init });
      const h = routes[path];
      return h ? h(init) : new Response('{}', { status: 404 });
    }) as typeof fetch,
    now: () => now,
    cookies: () => 'theme=x; rg_csrf=cookie-csrf',
    setTimer: (fn, ms) => timers.push({ fn, at: now + ms }),
    clearTimer: () => {},
  };
  return { deps, calls, timers, advance: (ms: number) => (now += ms) };
}

const json = (o: unknown, status = 200) => new Response(JSON.stringify(o), { status });

describe('Session', () => {
  it('signs in, keeps the token in memory and schedules a refresh a minute early', async () => {
    const f = fake({ '/auth/login': () => json(tokens(1)) });
    const s = new Session(f.deps);
    await s.login('a@example.com', 'pw');
    expect(s.access).toBe('tok1');
    expect(f.timers[0]!.at).toBe(1_000_000 + 840_000);
  });

  it('refreshes with the CSRF cookie and rotates tokens', async () => {
    let n = 1;
    const f = fake({
      '/auth/login': () => json(tokens(1)),
      '/auth/refresh': () => json(tokens(++n)),
    });
    const s = new Session(f.deps);
    await s.login('a@example.com', 'pw');
    expect(await s.refresh()).toBe(true);
    expect(s.access).toBe('tok2');
    const sent = new Headers(f.calls[1]!.init.headers);
    expect(sent.get('X-CSRF-Token')).toBe('cookie-csrf');
  });

  it('retries once after a 401 with a refreshed token, and signs out when refresh fails', async () => {
    let refreshOk = true;
    const seen: string[] = [];
    const f = fake({
      '/auth/login': () => json(tokens(1)),
      '/auth/refresh': () => (refreshOk ? json(tokens(2)) : json({ error: { message: 'invalid session' } }, 401)),
      '/v1/models': (init) => {
        const auth = new Headers(init.headers).get('Authorization') ?? '';
        seen.push(auth);
        return auth === 'Bearer tok2' ? json({ data: [] }) : json({ error: { message: 'expired' } }, 401);
      },
    });
    const s = new Session(f.deps);
    await s.login('a@example.com', 'pw');
    const r = await s.fetch('/v1/models');
    expect(r.status).toBe(200);
    expect(seen).toEqual(['Bearer tok1', 'Bearer tok2']);
    refreshOk = false;
    s.access = 'stale';
    const r2 = await s.fetch('/v1/models');
    expect(r2.status).toBe(401);
    expect(s.user).toBeNull();
  });

  it('refreshes before sending when the token is about to expire, once for concurrent calls', async () => {
    let refreshes = 0;
    const f = fake({
      '/auth/login': () => json(tokens(1, 60)),
      '/auth/refresh': () => json(tokens(10 + ++refreshes, 60)),
      '/x': () => json({}),
    });
    const s = new Session(f.deps);
    await s.login('a@example.com', 'pw');
    f.advance(58_000);
    await Promise.all([s.fetch('/x'), s.fetch('/x')]);
    expect(refreshes).toBe(1);
    expect(s.access).toBe('tok11');
  });

  it('reports a pending sign-up', async () => {
    const f = fake({
      '/auth/register': () => json({ status: 'accepted' }, 202),
      '/auth/login': () =>
        json({ error: { message: 'this account is waiting for an admin\'s approval' } }, 403),
    });
    const s = new Session(f.deps);
    expect(await s.register('b@example.com', 'long password', 'B')).toBe(false);
    expect(s.user).toBeNull();
  });

  it('signs in after an accepted sign-up', async () => {
    const f = fake({
      '/auth/register': () => json({ status: 'accepted' }, 202),
      '/auth/login': () => json(tokens(1, 60)),
    });
    const s = new Session(f.deps);
    expect(await s.register('c@example.com', 'long password', 'C')).toBe(true);
    expect(s.access).toBe('tok1');
  });

  it('says a taken email only through sign-in', async () => {
    const f = fake({
      '/auth/register': () => json({ status: 'accepted' }, 202),
      '/auth/login': () => json({ error: { message: 'invalid email or password' } }, 401),
    });
    const s = new Session(f.deps);
    await expect(s.register('a@example.com', 'long password', 'A')).rejects.toThrow(
      'invalid email or password',
    );
  });
});

describe('readCookie', () => {
  it('finds one cookie among several', () => {
    expect(readCookie('rg_csrf', 'a=1; rg_csrf=abc%3D; b=2')).toBe('abc=');
    expect(readCookie('nope', 'a=1')).toBeNull();
  });
});
