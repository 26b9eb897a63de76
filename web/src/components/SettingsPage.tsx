import { useState } from 'preact/hooks';
import type { Model, Session } from '../lib/api';
import { GlossarySection, MemorySection, RatingsExport, StylesSection } from './MemorySettings';
import type { Prefs } from '../lib/settings';
import { loadPrefs, savePrefs } from '../lib/settings';
import { applyTheme, resolveTheme } from '../theme';

const field = 'mt-1 block w-full rounded-md border border-zinc-500 bg-white px-2 py-1 dark:bg-zinc-800';

export function SettingsPage({ session, models, onMenu }: { session: Session; models: Model[]; onMenu: () => void }) {
  const [p, setP] = useState<Prefs>(loadPrefs);
  const set = (ch: Partial<Prefs>) => {
    const next = { ...p, ...ch };
    setP(next);
    savePrefs(next);
    if (ch.theme) applyTheme(resolveTheme(ch.theme));
  };
  return (
    <div class="h-full overflow-y-auto">
      <header class="flex items-center gap-2 border-b border-zinc-300 px-3 py-2 dark:border-zinc-700">
        <button type="button" class="rounded px-2 py-1 md:hidden" aria-label="Show conversations" aria-controls="sidebar" onClick={onMenu}>
          ☰
        </button>
        <h1 class="font-semibold">Settings</h1>
      </header>
      <form class="mx-auto max-w-xl space-y-4 p-4" onSubmit={(e) => e.preventDefault()} aria-label="Settings">
        <p class="text-sm text-zinc-700 dark:text-zinc-300">Saved on this device as you change them. New chats take these; each chat keeps its own.</p>
        <label class="block">
          Theme
          <select class={field} name="theme" value={p.theme} onChange={(e) => set({ theme: e.currentTarget.value as Prefs['theme'] })}>
            <option value="system">Same as the system</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
        </label>
        <label class="block">
          Default model
          <select class={field} name="default_model" value={p.model} onChange={(e) => set({ model: e.currentTarget.value })}>
            <option value="">The server's first model</option>
            {models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.id}
              </option>
            ))}
          </select>
        </label>
        <label class="block">
          System prompt
          <textarea class={field} name="system" rows={3} value={p.system} onInput={(e) => set({ system: e.currentTarget.value })} />
        </label>
        <label class="block">
          Temperature ({p.temperature.toFixed(1)})
          <input type="range" class="block w-full" name="temperature" min="0" max="2" step="0.1" value={p.temperature} onInput={(e) => set({ temperature: Number(e.currentTarget.value) })} />
        </label>
        <label class="block">
          Top p ({p.top_p.toFixed(2)})
          <input type="range" class="block w-full" name="top_p" min="0.05" max="1" step="0.05" value={p.top_p} onInput={(e) => set({ top_p: Number(e.currentTarget.value) })} />
        </label>
        <label class="block">
          Max tokens
          <input
            type="number"
            class={field}
            name="max_tokens"
            min="1"
            max="32768"
            value={p.max_tokens}
            onInput={(e) => set({ max_tokens: Math.max(1, Math.min(32768, Number(e.currentTarget.value) || 1)) })}
          />
        </label>
      </form>
      <div class="mx-auto max-w-xl space-y-8 p-4">
        <MemorySection session={session} />
        <StylesSection session={session} />
        <GlossarySection session={session} />
        <RatingsExport session={session} />
      </div>
    </div>
  );
}
