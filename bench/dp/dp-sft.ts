/**
 * Prototype: the SFT step (batch 32 x 32, the bench's) data-parallel across two worker threads,
 * against the same step on one worker, interleaved in one process (the host's load phases hit both).
 *
 * Data parallel: each replica takes 16 sequences and returns the flat gradient of its share of the
 * batch mean (its token-loss sum / the batch's token count); the coordinator sums the two (~420 KB
 * each), computes the global norm and the clip scale, and both replicas apply the same Adam update,
 * so they stay identical. Mathematically the step equals the single-worker one; numerically the
 * gradient differs by float summation order. Parity: the summed gradient against the full batch's
 * gradient on the cpu backend (the reference), next to the single-worker wasm gradient's distance.
 *
 * Superseded by the shards (src/core/shards.ts, Session 9: the same split, wired into training and
 * the bench); kept because docs/performance.md's Session 5 and 7 numbers came from it.
 *
 * usage: npx tsx bench/dp/dp-sft.ts [--steps N] [--warmup N]   (prints one JSON line)
 */

import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Rng } from '../../src/core/rng';

const { values } = parseArgs({
  options: { steps: { type: 'string', default: '30' }, warmup: { type: 'string', default: '20' } },
});
const STEPS = Number(values.steps);
const WARMUP = Number(values.warmup);
const B = 32;
const T = 32;
const VOCAB = 17;
const LR = 1e-4;

/** A worker thread running ./worker.ts through tsx's loader (registered inside the thread). */
const TSX_API = import.meta.resolve('tsx/esm/api');
const BOOT = `const { register } = await import(${JSON.stringify(TSX_API)}); register(); await import(${JSON.stringify(new URL('./worker.ts', import.meta.url).href)});`;

function start(backend: 'wasm' | 'cpu'): Promise<Worker> {
  const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(BOOT)}`), {
    workerData: { backend },
  });
  return new Promise((resolve, reject) => {
    w.once('message', () => resolve(w));
    w.once('error', reject);
  });
}

function call<R>(w: Worker, msg: unknown, transfer: ArrayBuffer[] = []): Promise<R> {
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
    w.postMessage(msg, transfer);
  });
}

const rng = new Rng('dp/sft');
const batch = () => Int32Array.from({ length: B * T }, () => rng.int(1, VOCAB - 1));
const mask = new Float32Array(B * (T - 1)).fill(1);
const half = (ids: Int32Array, i: 0 | 1) => ids.slice((i * B * T) / 2, ((i + 1) * B * T) / 2);
const halfMask = mask.slice(0, (B / 2) * (T - 1));

/** Flat gradient of the full-batch mean loss on one worker (scale 1). */
const fullGrad = (w: Worker, ids: Int32Array) =>
  call<{ grad: Float32Array }>(w, { type: 'grad', ids, B, T, mask, scale: 1 }).then((r) => r.grad);

/** The data-parallel gradient: each replica's half, scaled by its share of the tokens, summed. */
async function dpGrad(ws: Worker[], ids: Int32Array): Promise<Float32Array> {
  const parts = await Promise.all(
    ws.map((w, i) =>
      call<{ grad: Float32Array }>(w, {
        type: 'grad',
        ids: half(ids, i as 0 | 1),
        B: B / 2,
        T,
        mask: halfMask,
        scale: 0.5, // each half holds half the batch's tokens
      }),
    ),
  );
  const g = parts[0].grad;
  const h = parts[1].grad;
  for (let k = 0; k < g.length; k++) g[k] += h[k];
  return g;
}

async function dpStep(ws: Worker[], ids: Int32Array): Promise<void> {
  const g = await dpGrad(ws, ids);
  let sq = 0;
  for (let k = 0; k < g.length; k++) sq += g[k] * g[k];
  const norm = Math.sqrt(sq);
  const gradScale = norm > 1 ? 1 / (norm + 1e-6) : 1;
  const copy = g.slice();
  await Promise.all([
    call(ws[0], { type: 'apply', grad: g, lr: LR, gradScale }, [g.buffer as ArrayBuffer]),
    call(ws[1], { type: 'apply', grad: copy, lr: LR, gradScale }, [copy.buffer as ArrayBuffer]),
  ]);
}

function maxRel(a: Float32Array, ref: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let k = 0; k < a.length; k++) {
    num = Math.max(num, Math.abs(a[k] - ref[k]));
    den = Math.max(den, Math.abs(ref[k]));
  }
  return num / den;
}

const [single, r0, r1, ref] = await Promise.all([start('wasm'), start('wasm'), start('wasm'), start('cpu')]);
const replicas = [r0, r1];

// Parity at the (identical) starting weights: gradients of one batch.
const ids0 = batch();
const refG = await fullGrad(ref, ids0);
const singleG = await fullGrad(single, ids0);
const dpG = await dpGrad(replicas, ids0);
const parity = {
  singleWasmVsCpu: maxRel(singleG, refG),
  dataParallelWasmVsCpu: maxRel(dpG, refG),
  dataParallelVsSingleWasm: maxRel(dpG, singleG),
  gradientValues: refG.length,
  gradientKB: (refG.length * 4) / 1024,
};
await ref.terminate();

// Timing: single step and data-parallel step alternately, same batches.
const times = { single: [] as number[], dataParallel: [] as number[] };
for (let s = 0; s < WARMUP + STEPS; s++) {
  const ids = batch();
  const order = s % 2 === 0 ? (['single', 'dataParallel'] as const) : (['dataParallel', 'single'] as const);
  for (const which of order) {
    const t0 = performance.now();
    if (which === 'single') await call(single, { type: 'step', ids, B, T, mask, lr: LR });
    else await dpStep(replicas, ids);
    if (s >= WARMUP) times[which].push(performance.now() - t0);
  }
}
// The replicas must still be identical (same summed gradient, same Adam).
const [w0, w1] = await Promise.all(
  replicas.map((w) => call<{ weights: Float32Array }>(w, { type: 'weights' })),
);
const replicasIdentical = w0.weights.every((x, k) => x === w1.weights[k]);
const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r = (x: number) => Math.round(x * 10) / 10;
console.log(
  JSON.stringify({
    parity,
    replicasIdentical,
    steps: STEPS,
    warmup: WARMUP,
    singleMs: {
      median: r(med(times.single)),
      min: r(Math.min(...times.single)),
      max: r(Math.max(...times.single)),
    },
    dataParallelMs: {
      median: r(med(times.dataParallel)),
      min: r(Math.min(...times.dataParallel)),
      max: r(Math.max(...times.dataParallel)),
    },
  }),
);
await Promise.all([single, r0, r1].map((w) => w.terminate()));
