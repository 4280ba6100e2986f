// The fan-out from one source to the views that listen to it: named events,
// each listener called in turn, and a listener that throws is logged and
// skipped so one broken view never stops the others (or the hub) from
// hearing the rest.

export class Emitter {
  constructor() {
    this.listeners = new Map();
  }

  /** Call `fn(...args)` on every `emit(name, ...args)`; returns the function that stops it. */
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name)?.delete(fn);
  }

  emit(name, ...args) {
    for (const fn of [...(this.listeners.get(name) ?? [])]) {
      try {
        fn(...args);
      } catch (error) {
        console.error("terrarium: a view failed on", name, error);
      }
    }
  }

  /** Forget every listener. */
  clear() {
    this.listeners.clear();
  }
}
