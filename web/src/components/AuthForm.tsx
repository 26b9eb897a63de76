import { useEffect, useState } from 'preact/hooks';
import type { Providers, Session } from '../lib/api';
import { providers as loadProviders } from '../lib/api';

const input =
  'w-full rounded-md border border-zinc-300 bg-white px-3 py-2 text-zinc-900 focus:outline-2 focus:outline-amber-600 dark:border-zinc-600 dark:bg-zinc-800 dark:text-zinc-100';

export function AuthForm({ session }: { session: Session }) {
  const [mode, setMode] = useState<'signin' | 'signup'>('signin');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [prov, setProv] = useState<Providers>({ github: false, apple: false });

  useEffect(() => {
    void loadProviders().then(setProv);
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    setNote('');
    try {
      if (mode === 'signin') await session.login(email, password);
      else if (!(await session.register(email, password, name)))
        setNote('Account created. An admin must approve it before you can sign in.');
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const signup = mode === 'signup';
  return (
    <main class="mx-auto w-full max-w-sm px-4 pt-16 pb-8">
      <h1 class="mb-6 text-center text-2xl font-semibold">RustyGPT</h1>
      <form onSubmit={submit} class="space-y-3" aria-label={signup ? 'Sign up' : 'Sign in'}>
        <h2 class="text-lg font-medium">{signup ? 'Create an account' : 'Sign in'}</h2>
        {signup && (
          <label class="block">
            <span class="text-sm">Name</span>
            <input class={input} name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </label>
        )}
        <label class="block">
          <span class="text-sm">Email</span>
          <input
            class={input}
            type="email"
            name="email"
            required
            autocomplete="username"
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
          />
        </label>
        <label class="block">
          <span class="text-sm">Password</span>
          <input
            class={input}
            type="password"
            name="password"
            required
            minLength={signup ? 8 : undefined}
            autocomplete={signup ? 'new-password' : 'current-password'}
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {error && (
          <p role="alert" class="rounded-md bg-red-100 px-3 py-2 text-sm text-red-800 dark:bg-red-900/40 dark:text-red-200">
            {error}
          </p>
        )}
        {note && (
          <p role="status" class="approval-note rounded-md bg-amber-100 px-3 py-2 text-sm text-amber-950 dark:bg-amber-950 dark:text-amber-100">
            {note}
          </p>
        )}
        <button
          type="submit"
          disabled={busy}
          class="w-full rounded-md bg-amber-800 px-3 py-2 font-medium text-white hover:bg-amber-900 disabled:bg-zinc-300 disabled:text-zinc-800"
        >
          {signup ? 'Sign up' : 'Sign in'}
        </button>
      </form>
      {(prov.github || prov.apple) && (
        <div class="mt-4 space-y-2">
          {prov.github && (
            <a class="block rounded-md border border-zinc-400 px-3 py-2 text-center" href="/auth/oauth/github/start">
              Continue with GitHub
            </a>
          )}
          {prov.apple && (
            <a class="block rounded-md border border-zinc-400 px-3 py-2 text-center" href="/auth/oauth/apple/start">
              Continue with Apple
            </a>
          )}
        </div>
      )}
      <p class="mt-6 text-center text-sm">
        {signup ? 'Have an account? ' : 'New here? '}
        <button
          type="button"
          class="underline"
          onClick={() => {
            setMode(signup ? 'signin' : 'signup');
            setError('');
          }}
        >
          {signup ? 'Sign in' : 'Create an account'}
        </button>
      </p>
    </main>
  );
}
