/** A tiny signal between parts of the page: "the list of conversations changed". */
const listeners = new Set<() => void>();
export function onListChanged(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
export function listChanged() {
  for (const fn of listeners) fn();
}
