import { useEffect, useState } from 'preact/hooks';
import { Session } from './lib/api';
import { AuthForm } from './components/AuthForm';
import { Chat } from './components/Chat';

const session = new Session();

export function App() {
  const [, tick] = useState(0);
  const [ready, setReady] = useState(false);
  useEffect(() => {
    const off = session.onChange(() => tick((n) => n + 1));
    // a cookie from an earlier visit may still sign us in
    void session.refresh().finally(() => setReady(true));
    return off;
  }, []);
  if (!ready) return <p class="mt-16 text-center opacity-60">Loading…</p>;
  return session.user ? <Chat session={session} /> : <AuthForm session={session} />;
}
