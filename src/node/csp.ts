/**
 * The Content-Security-Policy that ships with the built pages (issue 18): vite.config.ts puts it
 * in a <meta http-equiv> of every built page and sends it as a header from `vite preview` (so the
 * workers and the .wasm fetches get it too); public/embed-example.html carries EMBED_EXAMPLE_CSP
 * literally. e2e/csp.spec.ts trains the runner, the app and the widget under it and checks that
 * the built files carry it; tests/safety.test.ts checks the literal copies.
 *
 * The minimal policy, found by removing each source and watching what broke (docs/reliability.md):
 * - script-src 'self' 'wasm-unsafe-eval': our bundles, and compiling tfjs's WASM binaries.
 *   No 'unsafe-eval', no 'unsafe-inline' for scripts.
 * - worker-src 'self': the policy and PRM workers are our own files. (tfjs-backend-wasm would start
 *   its threads from a blob: URL, but at one thread it starts none.)
 * - connect-src 'self': fetching the checkpoints and the .wasm binaries.
 * - style-src 'self' 'unsafe-inline': the <style> elements of index.html, the test pages and the
 *   embed example (Lit's adopted stylesheets need nothing). Styles cannot run code.
 * - img-src 'self' data:: the pages' empty `data:,` icon.
 * - default-src 'none' and object-src/base-uri/form-action 'none': nothing else (no plugins, no
 *   <base>, no form posts, no fonts or frames from anywhere).
 */
export const CSP_DIRECTIVES = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "connect-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
] as const;

export const PAGE_CSP = CSP_DIRECTIVES.join('; ');

/**
 * The embed example's policy: the page's, with `blob:` workers (a widget loaded from another
 * origin starts its workers from a same-origin blob: module). A host that loads the widget from
 * another origin adds that origin to script-src, worker-src and connect-src.
 */
export const EMBED_EXAMPLE_CSP = PAGE_CSP.replace("worker-src 'self'", "worker-src 'self' blob:");

/** EMBED_EXAMPLE_CSP for a host that loads the widget from `origin` (as the README says to). */
export function embedCspFor(origin: string): string {
  return EMBED_EXAMPLE_CSP.replace("script-src 'self'", `script-src 'self' ${origin}`)
    .replace("worker-src 'self'", `worker-src 'self' ${origin}`)
    .replace("connect-src 'self'", `connect-src 'self' ${origin}`);
}

/** The <meta> element carrying a policy (as built into every page). */
export function cspMeta(policy: string): string {
  return `<meta http-equiv="Content-Security-Policy" content="${policy}" />`;
}
