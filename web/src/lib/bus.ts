/** A tiny signal between parts of the page: "the list of conversations changed". */
const listeners = new Set<() => void>();
export function onListChanged(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
export function listChanged() {
  for (const fn of listeners) fn();
}

/** "the server's status may have changed" (an admin flipped the network switch). */
const statusListeners = new Set<() => void>();
export function onStatusChanged(fn: () => void): () => void {
  statusListeners.add(fn);
  return () => statusListeners.delete(fn);
}
export function statusChanged() {
  for (const fn of statusListeners) fn();
}
