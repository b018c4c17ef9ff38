/**
 * npm run bench -- [--runtime node|browser] [--backend auto|webgpu|wasm|cpu] [--threads N] [--json]
 *   [--peer] [--parts decode,sft,rl] [--runs N] [--no-cache-runs N] [--rl-iters N] [--quick] [--profile]
 *   [--model default|large] [--remeasure-backend] [--kernels exact|fma|off] [--shards N]
 * Where the time goes for the default model and the default iteration; see docs/performance.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BENCH_PARTS, type BenchOptions, type BenchResult, QUICK_BENCH } from '../src/bench/measure';
import { formatReport, type PeerResult } from '../src/bench/report';
import { BACKEND_CHOICES } from '../src/browser/session-api';
import { MODEL_PRESET_NAMES, MODEL_PRESETS, type ModelPreset } from '../src/core/model-shape';
import { KERNEL_MODES } from '../src/core/wasm-kernels';
import { choiceOption, cliMain, intOption } from '../src/node/cli';

const HELP = `usage: npm run bench -- [--runtime node|browser] [--backend auto|webgpu|wasm|cpu] [--threads N] [--json]
         [--peer] [--parts ${BENCH_PARTS.join(',')}] [--runs N] [--no-cache-runs N] [--rl-iters N] [--quick] [--profile]
         [--model ${MODEL_PRESET_NAMES.join('|')}] [--remeasure-backend] [--kernels ${KERNEL_MODES.join('|')}] [--shards N]
Times batched decoding (KV cache vs none), one SFT step (32 x 32, Adam) and the default SCOPE iteration
from the shipped add checkpoints.
--model large: d=256, 4 layers, 8 heads, MLP 1024 (3.2M parameters; no checkpoint, so its SCOPE
iteration starts from random weights); the peer runs the same size. --runtime browser runs it in headless Chromium (a Web Worker on
bench.html). --threads: WASM threads in the browser (needs cross-origin isolation; default: tfjs's choice).
--backend auto (browser) measures wasm against webgpu on a hardware adapter, as training does, and
takes the faster; --remeasure-backend measures on a software adapter (SwiftShader) too.
--peer runs the PyTorch peer (bench/peer/peer.py, Debian python3-torch) in the same run.
--runs N: timed runs of each decode and SFT measurement (default 7 decode runs after 2 warm-ups, 30 SFT
steps after 20 warm-up steps, as the peer's 30).
--quick: 2 timed runs, 3 RL iterations (for backends where a step takes seconds: webgpu on SwiftShader, cpu).
--no-cache-runs 0 skips the (slow) no-cache reference decoder.
--profile adds kernel time by kernel (tf.profile, median of a few runs) for the SFT step, the decode
and one RL iteration.
--kernels: on wasm, products, attention's convolution and the KV cache's concat in our kernels,
bit-identical to tfjs's (exact, the default), with fused multiply-add in the products (fma: relaxed
SIMD, browser only), or tfjs's own kernels (off); src/core/wasm-kernels.ts.
--shards N: the SFT step (the pretraining's) and the SCOPE iteration's update in N row shards
(default 2, as they run); with N > 1 a second worker (a Node thread, or a Web Worker beside WASM)
computes all but the first (src/core/shards.ts). 1 is the unsharded step.
--json prints only the JSON object, on the last stdout line.`;

const PYTHON = '/usr/bin/python3';

function runPeer(log: (m: string) => void, model: ModelPreset): PeerResult | null {
  if (!existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import torch']).status !== 0) {
    log('peer: skipped (no python3-torch: apt-get install -y python3-torch libopenblas0-pthread)');
    return null;
  }
  log('peer: PyTorch (each measurement at its best of 1 and 2 threads)');
  const m = MODEL_PRESETS[model];
  const arch = `${m.nLayer},${m.nHead},${m.dModel},${m.dMlp},${m.blockSize}`;
  const r = spawnSync(PYTHON, ['bench/peer/peer.py', '--json', '--arch', arch], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`peer failed with status ${r.status}`);
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as PeerResult;
}

await cliMain(HELP, async () => {
  const { values } = parseArgs({
    options: {
      runtime: { type: 'string', default: 'node' },
      backend: { type: 'string', default: 'auto' },
      threads: { type: 'string' },
      json: { type: 'boolean', default: false },
      peer: { type: 'boolean', default: false },
      parts: { type: 'string', default: BENCH_PARTS.join(',') },
      runs: { type: 'string' },
      'rl-iters': { type: 'string' },
      'no-cache-runs': { type: 'string' },
      profile: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      model: { type: 'string', default: 'default' },
      'remeasure-backend': { type: 'boolean', default: false },
      kernels: { type: 'string', default: 'exact' },
      shards: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return console.log(HELP);
  const log = (m: string) => console.error(m);
  const parts = values.parts.split(',').map((p) =>
    choiceOption('part', p.trim(), BENCH_PARTS, {
      where: 'in --parts',
      expected: `some of ${BENCH_PARTS.join(', ')}`,
    }),
  );
  const model = choiceOption('model', values.model, MODEL_PRESET_NAMES, {
    expected: MODEL_PRESET_NAMES.join(' or '),
  });
  const kernels = choiceOption('kernels', values.kernels, KERNEL_MODES, {
    expected: KERNEL_MODES.join(', '),
  });
  const opts: Partial<BenchOptions> = {
    ...(values.quick ? QUICK_BENCH : {}),
    parts,
    profile: values.profile,
    model,
    kernels,
  };
  if (values.runs !== undefined) opts.runs = opts.sftRuns = intOption('runs', values.runs, 1, 1000);
  if (values['no-cache-runs'] !== undefined)
    opts.noCacheRuns = intOption('no-cache-runs', values['no-cache-runs'], 0, 1000);
  if (values['rl-iters'] !== undefined)
    opts.growthIters = intOption('rl-iters', values['rl-iters'], 1, 10_000);
  if (values.shards !== undefined) opts.shards = intOption('shards', values.shards, 1, 8);
  const threads = values.threads === undefined ? undefined : intOption('threads', values.threads, 1, 16);
  const backend = choiceOption('backend', values.backend, BACKEND_CHOICES, {
    expected: 'auto, webgpu, wasm or cpu',
  });

  let result: BenchResult;
  if (values.runtime === 'node') {
    if (backend === 'webgpu') throw new Error('the node runtime has no webgpu; use --runtime browser');
    if (threads !== undefined && threads !== 1)
      throw new Error('tfjs-wasm in Node runs single-threaded; --threads is for --runtime browser');
    if (kernels === 'fma')
      throw new Error(
        '--kernels fma needs relaxed SIMD, which Node 20 lacks by default; use --runtime browser',
      );
    const { benchNode } = await import('../src/bench/node');
    result = await benchNode(backend === 'cpu' ? 'cpu' : 'wasm', opts, log);
  } else if (values.runtime === 'browser') {
    const { benchBrowser } = await import('../src/bench/browser');
    result = await benchBrowser({ backend, threads, opts, remeasure: values['remeasure-backend'] }, log);
  } else throw new Error(`unknown runtime '${values.runtime}' (expected node or browser)`);

  const peer = values.peer ? runPeer(log, model) : undefined;
  const full =
    peer === undefined
      ? result
      : { ...result, peer, sftVsPeer: ratio(result, peer), decodeVsPeer: decodeRatio(result, peer) };
  if (values.json) console.log(JSON.stringify(full));
  else console.log(formatReport(full));
});

/** Our KV-cache decode tokens/s over the peer's (> 1: faster than the peer). */
function decodeRatio(r: BenchResult, peer: PeerResult | null): number | null {
  const ours = r.decodeTokensPerSec?.kvCache;
  const theirs = peer?.decodeTokensPerSec?.kvCache;
  if (!ours || !theirs) return null;
  return Math.round((ours / theirs) * 100) / 100;
}

function ratio(r: BenchResult, peer: PeerResult | null): number | null {
  if (!peer || r.sftStepMs === undefined) return null;
  return Math.round((r.sftStepMs / peer.sftStepMs) * 100) / 100;
}
