/**
 * The shipped checkpoints, fetched from the page's own assets (never a CDN). Every fetch is bounded:
 * a server that sends nothing for `stallMs` (before the headers or in the middle of the body) ends
 * the load with an error, a body larger than `maxBytes` is refused by its Content-Length before it
 * is read, or as soon as the bytes read pass the cap when no length is declared, and what arrives
 * is validated (manifest, size, CRC-32, finite values, kind) before any worker sees it.
 */
import { verifyCheckpoint } from '../core/checkpoint';
import type { StoredCheckpoint } from '../core/rl/services';

export const ASSET_LIMITS = {
  /** No byte for this long ends the fetch: a stalled server, a dead connection. */
  stallMs: 15_000,
  /** Largest checkpoint file accepted (ours are ~1.3 MB). */
  maxBytes: 64 * 1024 * 1024,
};

export interface AssetLimits {
  stallMs: number;
  maxBytes: number;
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/**
 * The body of `url`, within `limits`: rejects (with a message naming the URL) on an HTTP error, a
 * stall, or more than `maxBytes`.
 */
export async function fetchBounded(
  url: URL,
  what: string,
  limits: AssetLimits = ASSET_LIMITS,
): Promise<Uint8Array> {
  const controller = new AbortController();
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      controller.abort();
    }, limits.stallMs);
  };
  const fail = (why: string) => new Error(`could not load ${what}: ${url.href} ${why}`);
  const stallError = () => fail(`sent nothing for ${limits.stallMs / 1000} s (a stalled server?)`);
  arm();
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: controller.signal });
    } catch (e) {
      throw stalled ? stallError() : fail(`failed: ${(e as Error).message}`);
    }
    if (!res.ok) throw fail(`answered ${res.status}`);
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > limits.maxBytes) {
      controller.abort();
      throw fail(`is ${mib(declared)}, more than the ${mib(limits.maxBytes)} a checkpoint may be`);
    }
    if (!res.body) return new Uint8Array(await res.arrayBuffer());
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      arm();
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch (e) {
        throw stalled ? stallError() : fail(`failed while reading: ${(e as Error).message}`);
      }
      if (step.done) break;
      total += step.value.length;
      if (total > limits.maxBytes) {
        controller.abort();
        throw fail(`sent more than the ${mib(limits.maxBytes)} a checkpoint may be`);
      }
      chunks.push(step.value);
    }
    const out = new Uint8Array(total);
    let offset = 0;
    for (const c of chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  } finally {
    clearTimeout(timer);
  }
}

/** public/checkpoints/<task>/<name>.{json,bin} under `base`, both files at once, validated. */
export async function fetchCheckpoint(
  base: URL,
  task: string,
  name: 'policy' | 'prm',
  limits: AssetLimits = ASSET_LIMITS,
): Promise<StoredCheckpoint> {
  const url = (ext: string) => new URL(`checkpoints/${task}/${name}.${ext}`, base);
  const [json, blob] = await Promise.all([
    fetchBounded(url('json'), `the ${name} checkpoint`, limits),
    fetchBounded(url('bin'), `the ${name} checkpoint`, limits),
  ]);
  let manifestJson: string;
  try {
    manifestJson = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw new Error(`the ${name} checkpoint at ${url('json').href} is not UTF-8 text`);
  }
  try {
    const manifest = verifyCheckpoint(manifestJson, blob);
    if (manifest.kind !== name) throw new Error(`it holds a ${manifest.kind}`);
    if (manifest.task !== task) throw new Error(`it is for task '${manifest.task}', not '${task}'`);
  } catch (e) {
    throw new Error(`the ${name} checkpoint at ${url('bin').href} is unusable: ${(e as Error).message}`);
  }
  return { manifestJson, blob };
}
