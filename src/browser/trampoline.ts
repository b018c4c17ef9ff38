/** Starting a module worker from any page (ours, or one that embeds the widget), and guarding its calls. */

/**
 * Start a module worker from a URL resolved against this module (not the page). A worker script
 * from another origin cannot be started directly, so there a same-origin blob module imports it
 * (the asset server must send CORS headers); its own `import.meta.url` stays the real one, so the
 * worker finds its WASM binaries next to it.
 */
export function startModuleWorker(url: string | URL, name: string): Worker {
  const abs = new URL(url, import.meta.url);
  if (abs.origin === self.location.origin) return new Worker(abs, { type: 'module', name });
  const trampoline = URL.createObjectURL(
    new Blob([`import ${JSON.stringify(abs.href)};`], { type: 'text/javascript' }),
  );
  const worker = new Worker(trampoline, { type: 'module', name });
  setTimeout(() => URL.revokeObjectURL(trampoline), 60_000);
  return worker;
}

/**
 * Calls on a worker that fail once it has died: `fail(e)` rejects every pending call and every
 * later one with the first error. (A set of pending calls, not Promise.race against one promise
 * pending for the worker's life: its reactions would keep every call's result reachable.)
 */
export function callGuard(): { call<R>(p: Promise<R>): Promise<R>; fail(e: Error): void } {
  let dead: Error | null = null;
  const pending = new Set<(e: Error) => void>();
  return {
    call<R>(p: Promise<R>): Promise<R> {
      if (dead) return Promise.reject(dead);
      return new Promise<R>((resolve, reject) => {
        pending.add(reject);
        p.then(resolve, reject).finally(() => pending.delete(reject));
      });
    },
    fail(e) {
      dead ??= e;
      for (const reject of pending) reject(dead);
      pending.clear();
    },
  };
}
