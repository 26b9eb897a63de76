import { useEffect, useRef, useState } from 'preact/hooks';
import type { ChatMessage, Model, Session } from '../lib/api';
import { errorOf } from '../lib/api';
import { SSEParser, readChunk } from '../lib/sse';
import { applyTheme, savedTheme } from '../theme';
import { Markdown } from './Markdown';

interface Msg extends ChatMessage {
  stats?: string;
  error?: string;
  stopped?: boolean;
}

interface Settings {
  temperature: number;
  maxTokens: number;
  system: string;
}

const DEFAULTS: Settings = { temperature: 0.7, maxTokens: 512, system: '' };

function loadSettings(): Settings {
  try {
    return { ...DEFAULTS, ...(JSON.parse(localStorage.getItem('rg-settings') ?? '{}') as Partial<Settings>) };
  } catch {
    return DEFAULTS;
  }
}

export function Chat({ session }: { session: Session }) {
  const [models, setModels] = useState<Model[]>([]);
  const [model, setModel] = useState(localStorage.getItem('rg-model') ?? '');
  const [msgs, setMsgs] = useState<Msg[]>([]);
  const [draft, setDraft] = useState('');
  const [sending, setSending] = useState(false);
  const [error, setError] = useState('');
  const [showSettings, setShowSettings] = useState(false);
  const [settings, setSettings] = useState<Settings>(loadSettings);
  const [theme, setTheme] = useState(savedTheme());
  const abort = useRef<AbortController | null>(null);
  const end = useRef<HTMLDivElement>(null);

  useEffect(() => {
    void (async () => {
      const r = await session.fetch('/v1/models');
      if (!r.ok) {
        setError((await errorOf(r)).message);
        return;
      }
      const list = ((await r.json()) as { data: Model[] }).data;
      setModels(list);
      if (!list.some((m) => m.id === model) && list[0]) setModel(list[0].id);
    })();
  }, []);

  useEffect(() => localStorage.setItem('rg-settings', JSON.stringify(settings)), [settings]);
  useEffect(() => {
    if (model) localStorage.setItem('rg-model', model);
  }, [model]);
  useEffect(() => end.current?.scrollIntoView?.({ block: 'end' }), [msgs]);

  const update = (f: (m: Msg) => Msg) =>
    setMsgs((all) => {
      const copy = all.slice();
      copy[copy.length - 1] = f(copy[copy.length - 1]!);
      return copy;
    });

  const send = async () => {
    const text = draft.trim();
    if (!text || sending) return;
    if (!model) {
      setError('No model to talk to: add a .gguf file to the models directory.');
      return;
    }
    setError('');
    const history: Msg[] = [...msgs, { role: 'user', content: text }];
    setMsgs([...history, { role: 'assistant', content: '' }]);
    setDraft('');
    setSending(true);
    const ctl = new AbortController();
    abort.current = ctl;
    const t0 = performance.now();
    let first = 0;
    let tokens = 0;
    try {
      const messages: ChatMessage[] = [
        ...(settings.system ? [{ role: 'system' as const, content: settings.system }] : []),
        ...history.filter((m) => !m.error).map(({ role, content }) => ({ role, content })),
      ];
      const r = await session.fetch('/v1/chat/completions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          model,
          messages,
          stream: true,
          stream_options: { include_usage: true },
          temperature: settings.temperature,
          max_tokens: settings.maxTokens,
        }),
        signal: ctl.signal,
      });
      if (!r.ok || !r.body) throw await errorOf(r);
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      const sse = new SSEParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const ev of sse.push(dec.decode(value, { stream: true }))) {
          const c = readChunk(ev.data);
          if (c.error) throw new Error(c.error);
          if (c.content) {
            if (!first) first = performance.now();
            update((m) => ({ ...m, content: m.content + c.content }));
          }
          if (c.completionTokens !== null) tokens = c.completionTokens;
        }
      }
      const secs = (performance.now() - (first || t0)) / 1000;
      const tps = tokens && secs > 0 ? (tokens / secs).toFixed(1) : '–';
      update((m) => ({ ...m, stats: `${tokens} tokens · ${tps} tok/s · ${((performance.now() - t0) / 1000).toFixed(1)} s` }));
    } catch (err) {
      if (ctl.signal.aborted) update((m) => ({ ...m, stopped: true, stats: 'stopped' }));
      else update((m) => ({ ...m, error: err instanceof Error ? err.message : String(err) }));
    } finally {
      abort.current = null;
      setSending(false);
    }
  };

  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void send();
    }
  };

  return (
    <div class="flex h-dvh flex-col">
      <header class="flex flex-wrap items-center gap-2 border-b border-zinc-300 px-3 py-2 dark:border-zinc-700">
        <span class="font-semibold">RustyGPT</span>
        <label class="flex items-center gap-1 text-sm">
          <span class="sr-only sm:not-sr-only">Model</span>
          <select
            name="model"
            aria-label="Model"
            class="rounded-md border border-zinc-300 bg-white px-2 py-1 dark:border-zinc-600 dark:bg-zinc-800"
            value={model}
            onChange={(e) => setModel(e.currentTarget.value)}
          >
            {models.length === 0 && <option value="">no models</option>}
            {models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.id}
              </option>
            ))}
          </select>
        </label>
        <span class="flex-1" />
        <button type="button" class="rounded-md px-2 py-1 text-sm underline" aria-expanded={showSettings} onClick={() => setShowSettings(!showSettings)}>
          Settings
        </button>
        <button
          type="button"
          class="rounded-md px-2 py-1 text-sm underline"
          onClick={() => {
            const t = theme === 'dark' ? 'light' : 'dark';
            applyTheme(t);
            setTheme(t);
          }}
        >
          {theme === 'dark' ? 'Light' : 'Dark'} theme
        </button>
        <span class="hidden text-sm opacity-70 sm:inline">{session.user?.email}</span>
        <button type="button" class="rounded-md px-2 py-1 text-sm underline" onClick={() => void session.logout()}>
          Sign out
        </button>
      </header>
      {showSettings && (
        <section aria-label="Settings" class="grid gap-3 border-b border-zinc-300 p-3 text-sm sm:grid-cols-3 dark:border-zinc-700">
          <label class="block">
            Temperature ({settings.temperature})
            <input
              type="range"
              name="temperature"
              min="0"
              max="2"
              step="0.1"
              class="w-full"
              value={settings.temperature}
              onInput={(e) => setSettings({ ...settings, temperature: Number(e.currentTarget.value) })}
            />
          </label>
          <label class="block">
            Max tokens
            <input
              type="number"
              name="max_tokens"
              min="1"
              max="32768"
              class="w-full rounded-md border border-zinc-300 bg-white px-2 py-1 dark:border-zinc-600 dark:bg-zinc-800"
              value={settings.maxTokens}
              onInput={(e) => setSettings({ ...settings, maxTokens: Math.max(1, Number(e.currentTarget.value) || 1) })}
            />
          </label>
          <label class="block sm:col-span-3">
            System prompt
            <textarea
              name="system"
              rows={2}
              class="w-full rounded-md border border-zinc-300 bg-white px-2 py-1 dark:border-zinc-600 dark:bg-zinc-800"
              value={settings.system}
              onInput={(e) => setSettings({ ...settings, system: e.currentTarget.value })}
            />
          </label>
        </section>
      )}
      <main class="flex-1 overflow-y-auto px-3 py-4" aria-live="polite" aria-label="Conversation">
        <div class="mx-auto max-w-3xl space-y-4">
          {msgs.length === 0 && <p class="text-center opacity-60">Ask anything. Enter sends, Shift+Enter starts a new line.</p>}
          {msgs.map((m, i) => (
            <article
              key={i}
              data-role={m.role}
              class={
                m.role === 'user'
                  ? 'ml-auto max-w-[85%] rounded-lg bg-amber-100 px-3 py-2 text-zinc-900 dark:bg-amber-900/40 dark:text-zinc-100'
                  : 'max-w-full rounded-lg bg-zinc-100 px-3 py-2 dark:bg-zinc-800'
              }
            >
              <Markdown text={m.content} />
              {m.error && (
                <p role="alert" class="mt-1 text-sm text-red-700 dark:text-red-300">
                  {m.error}
                </p>
              )}
              {m.stats && <p class="stats mt-1 text-xs opacity-60">{m.stats}</p>}
            </article>
          ))}
          <div ref={end} />
        </div>
      </main>
      {error && (
        <p role="alert" class="mx-3 mb-2 rounded-md bg-red-100 px-3 py-2 text-sm text-red-800 dark:bg-red-900/40 dark:text-red-200">
          {error}
        </p>
      )}
      <form
        class="mx-auto flex w-full max-w-3xl gap-2 px-3 pb-3"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <textarea
          name="message"
          aria-label="Message"
          rows={2}
          class="flex-1 resize-none rounded-md border border-zinc-300 bg-white px-3 py-2 dark:border-zinc-600 dark:bg-zinc-800"
          placeholder="Message"
          value={draft}
          disabled={sending}
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={onKey}
        />
        {sending ? (
          <button type="button" class="rounded-md bg-zinc-700 px-4 text-white" onClick={() => abort.current?.abort()}>
            Stop
          </button>
        ) : (
          <button type="submit" class="rounded-md bg-amber-700 px-4 text-white disabled:opacity-50" disabled={!draft.trim()}>
            Send
          </button>
        )}
      </form>
    </div>
  );
}
