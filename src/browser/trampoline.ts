/** Starting a module worker from any page, ours or a page that embeds the widget. */

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
