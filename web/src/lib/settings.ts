/**
 * The user's choices on this device (the Settings page): theme, default
 * model, system prompt, sampling. New conversations take the model and
 * settings from here; each conversation keeps its own afterwards.
 */
import type { ConvSettings } from './conv';

export interface Prefs {
  theme: 'light' | 'dark' | 'system';
  model: string;
  system: string;
  temperature: number;
  top_p: number;
  max_tokens: number;
}

export const DEFAULT_PREFS: Prefs = { theme: 'system', model: '', system: '', temperature: 0.7, top_p: 0.95, max_tokens: 512 };

const KEY = 'rg-prefs';
const listeners = new Set<() => void>();

export function loadPrefs(): Prefs {
  try {
    const p = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<Prefs>;
    return { ...DEFAULT_PREFS, ...p };
  } catch {
    return { ...DEFAULT_PREFS };
  }
}

export function savePrefs(p: Prefs) {
  localStorage.setItem(KEY, JSON.stringify(p));
  for (const fn of listeners) fn();
}

export function onPrefs(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** The settings a new conversation gets. */
export function convSettings(p: Prefs): ConvSettings {
  const s: ConvSettings = { temperature: p.temperature, top_p: p.top_p, max_tokens: p.max_tokens };
  if (p.system.trim()) s.system = p.system;
  return s;
}
