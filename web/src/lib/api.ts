/**
 * The server's API as this app uses it: the routes, their shapes, and a
 * session that keeps the access token in memory only. The refresh token is
 * an HttpOnly cookie the page cannot read; /auth/refresh trades it for a new
 * access token (and a rotated cookie), sending the CSRF token from the
 * readable rg_csrf cookie. A refresh is scheduled a minute before the access
 * token expires, and a 401 triggers one refresh and one retry.
 *
 * These types are the one hand-written source of truth; the browser test
 * checks every route in ROUTES against the server's /openapi.json.
 */
export interface User {
  id: number;
  email: string;
  name: string;
  role: 'admin' | 'user' | 'readonly';
}

export interface TokenReply {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  csrf_token: string;
  user: User;
}

export interface Providers {
  github: boolean;
  apple: boolean;
}

export interface Model {
  id: string;
  object: 'model';
  owned_by: string;
  context_length?: number;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Every route the app calls: [method, path as in /openapi.json]. */
export const ROUTES: [string, string][] = [
  ['post', '/auth/register'],
  ['post', '/auth/login'],
  ['post', '/auth/refresh'],
  ['post', '/auth/logout'],
  ['get', '/auth/me'],
  ['get', '/auth/providers'],
  ['get', '/v1/models'],
  ['get', '/status'],
  ['get', '/auth/api-keys'],
  ['post', '/auth/api-keys'],
  ['delete', '/auth/api-keys/{id}'],
  ['get', '/auth/sessions'],
  ['delete', '/auth/sessions/{id}'],
  ['post', '/auth/sessions/revoke-others'],
  ['get', '/admin/users'],
  ['patch', '/admin/users/{id}'],
  ['get', '/chat/conversations'],
  ['post', '/chat/conversations'],
  ['get', '/chat/conversations/{id}'],
  ['patch', '/chat/conversations/{id}'],
  ['delete', '/chat/conversations/{id}'],
  ['post', '/chat/conversations/{id}/messages'],
  ['post', '/chat/conversations/{id}/active'],
  ['post', '/chat/messages/{id}/edit'],
  ['post', '/chat/messages/{id}/regenerate'],
  ['post', '/chat/messages/{id}/continue'],
  ['post', '/chat/messages/{id}/move'],
  ['patch', '/chat/threads/{id}'],
  ['get', '/library/status'],
  ['get', '/library/collections'],
  ['post', '/library/collections'],
  ['patch', '/library/collections/{id}'],
  ['delete', '/library/collections/{id}'],
  ['get', '/library/folders'],
  ['post', '/library/folders'],
  ['delete', '/library/folders/{id}'],
  ['post', '/library/folders/{id}/scan'],
  ['get', '/library/documents'],
  ['post', '/library/documents'],
  ['get', '/library/documents/{id}'],
  ['patch', '/library/documents/{id}'],
  ['delete', '/library/documents/{id}'],
  ['get', '/library/chunks/{id}'],
  ['get', '/search'],
  ['get', '/jobs/{id}'],
  // memory, thinking tools, survival mode (docs/memory.md)
  ['get', '/chat/memory'],
  ['put', '/chat/memory'],
  ['get', '/chat/messages/{id}/context'],
  ['post', '/chat/conversations/{id}/context'],
  ['post', '/chat/threads/{id}/summarize'],
  ['get', '/chat/styles'],
  ['post', '/chat/styles'],
  ['patch', '/chat/styles/{id}'],
  ['delete', '/chat/styles/{id}'],
  ['get', '/chat/glossary'],
  ['post', '/chat/glossary'],
  ['patch', '/chat/glossary/{id}'],
  ['delete', '/chat/glossary/{id}'],
  ['put', '/chat/messages/{id}/rating'],
  ['post', '/chat/messages/{id}/flags'],
  ['delete', '/chat/flags/{id}'],
  ['get', '/chat/ratings/export'],
  ['get', '/admin/ratings'],
  ['get', '/admin/network'],
  ['put', '/admin/network'],
  ['get', '/survival/categories'],
  ['get', '/survival/collections'],
  ['put', '/survival/collections'],
  ['get', '/survival/documents'],
  ['put', '/survival/documents/{id}/categories'],
  ['get', '/survival/search'],
  ['post', '/survival/ask'],
];

/** An account as an admin sees it (GET /admin/users). */
export interface AdminUser extends User {
  disabled: boolean;
  pending: boolean;
  created_at: number;
  has_password: boolean;
}

/** An API key as listed (the key itself only in the reply that made it). */
export interface ApiKey {
  id: number;
  name: string;
  prefix: string;
  created_at: number;
  owner: number;
  last_used_at: number | null;
  key?: string;
}

/** A signed-in device (GET /auth/sessions; times in seconds). */
export interface DeviceSession {
  id: number;
  user_agent: string;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  current: boolean;
}

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public code = '',
  ) {
    super(message);
  }
}

/** The message of an API error body ({"error": {"message"}}), or a plain one. */
export async function errorOf(r: Response): Promise<ApiError> {
  let msg = `${r.status} ${r.statusText}`;
  let code = '';
  try {
    const j = (await r.json()) as { error?: { message?: string; code?: string } | string };
    if (typeof j.error === 'string') msg = j.error;
    else if (j.error?.message) msg = j.error.message;
    if (typeof j.error === 'object' && typeof j.error.code === 'string') code = j.error.code;
  } catch {
    /* not JSON: keep the status line */
  }
  if (r.status === 429) {
    const after = r.headers.get('Retry-After');
    msg = `Too many requests${after ? `: try again in ${after} s` : ''} (${msg})`;
  }
  return new ApiError(r.status, msg, code);
}

export function readCookie(name: string, cookies: string): string | null {
  for (const part of cookies.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return null;
}

export interface SessionDeps {
  fetch: typeof fetch;
  now: () => number;
  cookies: () => string;
  setTimer: (fn: () => void, ms: number) => unknown;
  clearTimer: (t: unknown) => void;
}

const browserDeps = (): SessionDeps => ({
  fetch: (...a) => fetch(...a),
  now: () => Date.now(),
  cookies: () => document.cookie,
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
});

export class Session {
  access: string | null = null;
  user: User | null = null;
  expiresAt = 0;
  private csrf: string | null = null;
  private timer: unknown = null;
  private listeners = new Set<() => void>();
  private refreshing: Promise<boolean> | null = null;

  constructor(private deps: SessionDeps = browserDeps()) {}

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit() {
    for (const fn of this.listeners) fn();
  }

  private take(t: TokenReply) {
    this.access = t.access_token;
    this.user = t.user;
    this.csrf = t.csrf_token;
    this.expiresAt = this.deps.now() + t.expires_in * 1000;
    if (this.timer !== null) this.deps.clearTimer(this.timer);
    // a minute early (or halfway for very short tokens)
    const lead = Math.min(60, t.expires_in / 2) * 1000;
    this.timer = this.deps.setTimer(() => void this.refresh(), t.expires_in * 1000 - lead);
    this.emit();
  }

  clear() {
    this.access = null;
    this.user = null;
    this.csrf = null;
    if (this.timer !== null) this.deps.clearTimer(this.timer);
    this.timer = null;
    this.emit();
  }

  private async post(path: string, body?: unknown, csrf = false): Promise<Response> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (csrf) headers['X-CSRF-Token'] = readCookie('rg_csrf', this.deps.cookies()) ?? this.csrf ?? '';
    return this.deps.fetch(path, {
      method: 'POST',
      headers,
      credentials: 'same-origin',
      body: body === undefined ? null : JSON.stringify(body),
    });
  }

  async login(email: string, password: string): Promise<void> {
    const r = await this.post('/auth/login', { email, password });
    if (!r.ok) throw await errorOf(r);
    this.take((await r.json()) as TokenReply);
  }

  /**
   * Signs up, then signs in: sign-up answers 202 "accepted" whether or not
   * the email was taken (so it reveals no accounts), and only sign-in tells.
   * Returns false when the account waits for an admin's approval.
   */
  async register(email: string, password: string, name: string): Promise<boolean> {
    const r = await this.post('/auth/register', { email, password, name });
    if (!r.ok) throw await errorOf(r);
    try {
      await this.login(email, password);
    } catch (err) {
      if (err instanceof ApiError && err.status === 403 && /approv/.test(err.message)) return false;
      throw err;
    }
    return true;
  }

  /** Trades the refresh cookie for a new access token; false if signed out. */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        try {
          const r = await this.post('/auth/refresh', undefined, true);
          if (!r.ok) {
            this.clear();
            return false;
          }
          this.take((await r.json()) as TokenReply);
          return true;
        } catch {
          return false; /* the network: keep what we have */
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }

  async logout(): Promise<void> {
    try {
      await this.post('/auth/logout', undefined, true);
    } finally {
      this.clear();
    }
  }

  /** fetch with the access token; one refresh and retry on a 401. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    if (init.body !== undefined && init.body !== null && typeof init.body === 'string') {
      const h = new Headers(init.headers);
      if (!h.has('Content-Type')) h.set('Content-Type', 'application/json');
      init = { ...init, headers: h };
    }
    const send = () => {
      const headers = new Headers(init.headers);
      if (this.access) headers.set('Authorization', `Bearer ${this.access}`);
      return this.deps.fetch(path, { ...init, headers, credentials: 'same-origin' });
    };
    if (this.access && this.deps.now() > this.expiresAt - 5000) await this.refresh();
    let r = await send();
    if (r.status === 401 && (await this.refresh())) r = await send();
    if (r.status === 401) this.clear();
    return r;
  }
}

export async function providers(): Promise<Providers> {
  try {
    const r = await fetch('/auth/providers');
    if (r.ok) return (await r.json()) as Providers;
  } catch {
    /* none */
  }
  return { github: false, apple: false };
}

/** A JSON call with the session: the parsed body, or an ApiError. */
export async function call<T>(s: Session, method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = JSON.stringify(body);
  const r = await s.fetch(path, init);
  if (!r.ok) throw await errorOf(r);
  if (r.status === 204) return undefined as T;
  return (await r.json()) as T;
}
