/**
 * npm run soak -- [--iters 1000] [--every 50] [--task add] [--algo scope] [--backend wasm] [--autosave 10]
 * A long run of a small configuration in headless Chromium (the `--runtime browser` path: runner
 * page, policy and PRM workers, IndexedDB autosave), sampled at rest every N iterations and judged
 * by the rules in src/node/soak.ts: no tensor growth, a bounded JS heap, bounded IndexedDB.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runInBrowser } from '../src/node/browser-run';
import { cliMain } from '../src/node/cli';
import { parseSoakArgs, SOAK_HELP } from '../src/node/options';
import { judgeSoak, type SoakSample } from '../src/node/soak';
import type { RunnerEvent } from '../src/runner/main';
import { STORAGE_DEFAULTS } from '../src/storage';

/** Makes measureUserAgentSpecificMemory answer at once instead of at the next GC (up to ~20 s). */
const EAGER_MEMORY = '--enable-blink-features=ForceEagerMeasureMemory';

await cliMain(SOAK_HELP, async () => {
  const args = parseSoakArgs(process.argv.slice(2));
  if (!args) return console.log(SOAK_HELP);
  const { config, every } = args;
  const log = args.json ? console.error : console.log;
  const namespace = `soak-${Date.now()}`;
  const samples: SoakSample[] = [];
  let trainingStarted = 0;
  log(
    `soak: ${config.task} ${config.algo} P=${config.promptsPerIter} G=${config.groupSize} ${config.iters} iterations on ${args.backend}, autosave every ${args.autosave}, sample every ${every}`,
  );
  log('  iter    s  it/s   tensors(policy/prm)  heap MiB (page+workers)  IDB MiB  checkpoints  metrics rows');
  const res = await runInBrowser({
    config,
    backend: args.backend,
    log,
    launchArgs: [EAGER_MEMORY],
    query: { storage: namespace, autosave: String(args.autosave), soak: String(every) },
    onEvent: (e: RunnerEvent) => {
      if (e.type === 'ready') trainingStarted = Date.now();
      else if (e.type === 'sample') {
        const s = e.sample;
        samples.push(s);
        const rate = s.iter > 0 ? (s.iter / (s.wallMs / 1000)).toFixed(2) : '-';
        log(
          `${String(s.iter).padStart(6)} ${(s.wallMs / 1000).toFixed(0).padStart(4)} ${rate.padStart(5)}   ${String(s.tensors.policy).padStart(8)}/${String(s.tensors.prm ?? '-').padEnd(8)}   ${(s.heap.totalBytes / 2 ** 20).toFixed(1).padStart(8)} (${(s.heap.pageBytes / 2 ** 20).toFixed(1)}+${(s.heap.workerBytes / 2 ** 20).toFixed(1)})        ${(s.idb.usageBytes / 2 ** 20).toFixed(2).padStart(6)}  ${String(s.idb.checkpoints).padStart(11)}  ${String(s.idb.metricsRows).padStart(12)}`,
        );
      } else if (e.type === 'notice') {
        const d = e.detail as { level: string; message: string };
        log(`${d.level}: ${d.message}`);
      } else if (e.type === 'error') log(`error: ${(e.detail as { message: string }).message}`);
    },
  });
  const wallSeconds = (Date.now() - trainingStarted) / 1000;
  const verdict = judgeSoak(samples, STORAGE_DEFAULTS.keepLastCheckpoints);
  const result = {
    config,
    backend: res.backend,
    prmBackend: res.prmBackend,
    iterations: res.summary.iters,
    wallSeconds,
    itersPerSecond: res.summary.iters / wallSeconds,
    skippedUpdates: res.summary.skippedUpdates,
    verdict,
    samples,
  };
  mkdirSync(args.out, { recursive: true });
  writeFileSync(path.join(args.out, 'soak.json'), `${JSON.stringify(result, null, 2)}\n`);
  const f = verdict.figures;
  log(
    `soak: ${result.iterations} iterations in ${wallSeconds.toFixed(0)} s (${result.itersPerSecond.toFixed(2)} it/s, sampling pauses included)`,
  );
  log(
    `  tensors policy ${[...new Set(f.tensors.policy)].join(',')} prm ${[...new Set(f.tensors.prm)].join(',')}`,
  );
  log(
    `  heap first-quarter max ${(f.heapFirstQuarterMax / 2 ** 20).toFixed(1)} MiB, last-quarter max ${(f.heapLastQuarterMax / 2 ** 20).toFixed(1)} MiB`,
  );
  log(
    `  IndexedDB first-quarter max ${(f.idbFirstQuarterMax / 2 ** 20).toFixed(2)} MiB, last-quarter max ${(f.idbLastQuarterMax / 2 ** 20).toFixed(2)} MiB (metrics allowance ${(f.idbAllowance / 2 ** 20).toFixed(2)} MiB), at most ${f.maxCheckpointsStored} checkpoints stored`,
  );
  log(verdict.ok ? 'soak: PASS' : `soak: FAIL\n  ${verdict.failures.join('\n  ')}`);
  log(`wrote ${path.join(args.out, 'soak.json')}`);
  if (args.json) console.log(JSON.stringify({ ...result, samples: undefined }));
  if (!verdict.ok) process.exitCode = 1;
});
