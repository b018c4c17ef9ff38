/**
 * npm run compare -- --task <add|arith> [--algos a,b,...] [--seeds S] [--iters N] [--jobs J]
 *   [--shard i/n] [--set key=value ...] [--checkpoint DIR] [--out DIR]
 * npm run compare -- --merge DIR... --out DIR
 * Every (algo, seed) cell is a run of scripts/train.ts from the shipped checkpoint (or --checkpoint),
 * J at a time.
 */
import { cpSync, existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CellResult } from '../src/core/compare/aggregate';
import { type Cell, cellId, cellList, parseAlgos, parseShard, shardCells } from '../src/core/compare/cells';
import {
  type BaseConfig,
  type CompareIdentity,
  type CompareManifest,
  fmtStat,
  identityMismatch,
} from '../src/core/compare/report';
import { ALGOS, parseRlConfig } from '../src/core/rl/config';
import { parseOverrides } from '../src/core/rl/overrides';
import { getScenario, SCENARIO_NAMES, scenarioConfig } from '../src/core/scenarios';
import { getTask } from '../src/core/tasks';
import { cliMain, intOption } from '../src/node/cli';
import {
  type CellJob,
  type CellOptions,
  cellDir,
  checkpointSha256,
  checkSameIdentity,
  iterationsLogged,
  provenance,
  REPO_ROOT,
  readCell,
  readManifest,
  sharedStartEval,
  startCell,
  writeManifest,
  writeOutputs,
} from '../src/node/compare';
import { Progress } from '../src/node/progress';

/**
 * Default iterations per cell: the full matrix (7 algorithms x 5 seeds) on one task must finish in
 * 60 minutes on the 2-core reference machine with J = 2. Measured CPU seconds (add, default P = G = 8,
 * evalN 200, evalEvery 25; one process per core, so CPU time is the wall time of an idle machine):
 * start-up 1.6 s, one evaluation 7.6 s, one iteration 0.31 (sft-control) to 0.87 (prm-dense) s,
 * 4.5 s summed over the 7 algorithms. At 150 iterations (7 evaluations):
 * 5 x (7 x (1.6 + 7 x 7.6) + 150 x 4.5) / 2 cores = 2660 s = 44 min, a 25% margin for the slower
 * later iterations and the last cell running alone; 200 iterations would take about 58 min.
 */
const DEFAULT_COMPARE_ITERS = 150;

const HELP = `usage: npm run compare -- --task <add|arith> [--algos ${ALGOS.join(',')}] [--seeds S]
         [--scenario ${SCENARIO_NAMES.join('|')}] [--iters N] [--jobs J] [--shard i/n] [--set key=value ...]
         [--checkpoint DIR] [--out DIR] [--start-eval FILE]
       npm run compare -- --merge DIR... --out DIR [--algos a,b,...]
Runs every (algo, seed) cell, seeds 1..S (default 5), for N iterations (default ${DEFAULT_COMPARE_ITERS}) from the
shipped checkpoint (public/checkpoints/<task>, or --checkpoint DIR holding policy.* and prm.*), J cells at a time (default: the number of cores), each as a scripts/train.ts child
in DIR/cells/<algo>-s<seed> (default DIR: results/<task>). A restart skips finished cells (those with a
summary.json) and reruns the others from scratch. --shard i/n runs the cells at positions p % n == i-1
of the sorted cell list; --merge combines shard directories into one (--algos: only those methods,
every seed of each still required). Writes DIR/table.json, table.md,
curves.json and curves/<metric>.svg. --set overrides a config knob for every cell (see docs/algorithms.md).
--scenario presets the task and knobs of every cell (src/core/scenarios.ts; --task may be left out;
default DIR results/<scenario>); the edge scenario adds the edge evaluation (pass@k), forgetting and
its pre-registered hypotheses as paired per-seed differences.
Every cell starts from the same checkpoint, so the starting evaluation is done once: the first cells
evaluate it, later ones reuse it (DIR/start-eval.json); --start-eval FILE hands another shard's to
every cell (train --start-eval refuses one from a different checkpoint or evaluation options).`;

const log = (msg: string) => {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K'); // clear a progress bar first
  console.log(msg);
};

/** Load every finished cell of `cells` from `out`. */
function loadCells(out: string, cells: Cell[], identity: CompareIdentity): CellResult[] {
  return cells.flatMap((c) => {
    const r = readCell(cellDir(out, c), c, identity);
    return r ? [r] : [];
  });
}

/** Run `cells` J at a time with overall progress; a failed cell does not stop the others. */
async function runCells(
  out: string,
  cells: Cell[],
  jobs: number,
  identity: CompareIdentity,
  opts: CellOptions,
): Promise<string[]> {
  const bar = new Progress('compare', Math.max(1, cells.length * opts.iters), process.stderr, 15_000);
  const queue = [...cells];
  const running = new Map<string, CellJob>();
  const failures: string[] = [];
  let finished = 0;
  const report = () => {
    let done = finished * opts.iters;
    for (const j of running.values()) done += iterationsLogged(cellDir(out, j.cell));
    bar.update(
      Math.min(done, cells.length * opts.iters),
      `| ${finished}/${cells.length} cells${running.size ? `, running ${[...running.keys()].join(' ')}` : ''}`,
    );
  };
  const stop = (signal: NodeJS.Signals) => {
    for (const j of running.values()) j.child.kill('SIGTERM');
    log(`\ncompare: ${signal}, stopped ${running.size} running cell(s); a restart reruns them`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const timer = setInterval(report, 2000);
  const worker = async () => {
    for (let cell = queue.shift(); cell; cell = queue.shift()) {
      const t0 = Date.now();
      // The first cells evaluate the start themselves; later ones reuse the first such evaluation.
      const job = startCell(out, cell, { ...opts, startEval: opts.startEval ?? sharedStartEval(out) });
      running.set(cellId(cell), job);
      try {
        await job.done;
        const r = readCell(cellDir(out, cell), cell, identity);
        log(
          `cell ${cellId(cell)} done in ${((Date.now() - t0) / 1000).toFixed(0)}s: test ${r?.summary.end.testAcc.toFixed(3)} sampled ${r?.summary.end.testAccSampled.toFixed(3)}${typeof r?.summary.end.edgePassAt1 === 'number' ? ` edge pass@1 ${r.summary.end.edgePassAt1.toFixed(3)}` : ''}`,
        );
      } catch (e) {
        failures.push((e as Error).message);
        log(`cell ${cellId(cell)} FAILED: ${(e as Error).message}`);
      } finally {
        running.delete(cellId(cell));
        finished++;
        report();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, cells.length) }, worker));
  } finally {
    clearInterval(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return failures;
}

function printSummary(out: string, rows: ReturnType<typeof writeOutputs>['rows']): void {
  for (const r of rows)
    log(
      `${r.algo.padEnd(12)} sampled ${fmtStat(r.end.testAccSampled)}  test ${fmtStat(r.end.testAcc)}  ood ${fmtStat(r.end.oodAcc)}${r.edgeEnd.edgePassAt1.n ? `  edge pass@1 ${fmtStat(r.edgeEnd.edgePassAt1)}  forgetting ${fmtStat(r.forgetting)}` : ''}  (${r.seeds.length} seeds)`,
    );
  log(`wrote ${path.join(out, 'table.md')}, table.json and curves/`);
}

async function compareMain(values: Record<string, string | string[] | boolean | undefined>): Promise<void> {
  const scenario = values.scenario === undefined ? null : getScenario(values.scenario as string);
  if (!values.task && !scenario) throw new Error('missing --task (add or arith)');
  const task = getTask((values.task as string | undefined) ?? scenario?.task ?? '');
  const algos = parseAlgos((values.algos as string | undefined) ?? ALGOS.join(','));
  const seeds = intOption('seeds', (values.seeds as string | undefined) ?? '5', 1, 1000);
  const iters = intOption(
    'iters',
    (values.iters as string | undefined) ?? String(DEFAULT_COMPARE_ITERS),
    1,
    100_000,
  );
  const jobs = intOption(
    'jobs',
    (values.jobs as string | undefined) ?? String(os.availableParallelism()),
    1,
    256,
  );
  const shard = values.shard === undefined ? null : parseShard(values.shard as string);
  const sets = (values.set as string[] | undefined) ?? [];
  const overrides = parseOverrides(sets);
  for (const k of ['task', 'algo', 'seed', 'iters'])
    if (k in overrides)
      throw new Error(`--set ${k}: use --${k === 'algo' ? 'algos' : k === 'seed' ? 'seeds' : k}`);
  // Validate every algorithm's config now, not in a child halfway through the sweep.
  const configs = algos.map((algo) => {
    const own = { ...overrides, task: task.name, algo, seed: 1, iters };
    return scenario ? scenarioConfig(scenario.name, own) : parseRlConfig(own);
  });
  const { algo: _a, seed: _s, ...config } = configs[0];
  // Absolute: the cells run from the repository root, the user's relative path from where they are.
  const checkpoint = path.resolve(
    (values.checkpoint as string | undefined) ??
      path.join(REPO_ROOT, 'public', scenario?.checkpoint ?? path.join('checkpoints', task.name)),
  );
  const identity: CompareIdentity = {
    task: task.name,
    config: config as BaseConfig,
    checkpointSha256: checkpointSha256(checkpoint),
  };
  const out = (values.out as string | undefined) ?? path.join('results', scenario?.name ?? task.name);
  const startEval = values['start-eval'] as string | undefined;
  if (startEval !== undefined && !existsSync(startEval))
    throw new Error(`--start-eval: no file '${startEval}'`);
  checkSameIdentity(out, identity);
  const manifest: CompareManifest = {
    kind: 'scope-lab/compare',
    version: 1,
    identity,
    algos,
    seeds: Array.from({ length: seeds }, (_, i) => i + 1),
    overrides,
    provenance: provenance(process.argv.slice(2), jobs, shard),
    ...(scenario ? { scenario: scenario.name } : {}),
  };
  writeManifest(out, manifest);

  const all = cellList(algos, seeds);
  const cells = shard ? shardCells(all, shard) : all;
  const finished = new Set(loadCells(out, cells, identity).map((c) => cellId(c)));
  const todo = cells.filter((c) => !finished.has(cellId(c)));
  log(
    `compare ${task.name}: ${algos.length} algos x ${seeds} seeds, ${iters} iters${shard ? `, shard ${shard.index}/${shard.count}` : ''}: ${cells.length} cells, ${todo.length} to run, jobs ${jobs} -> ${out}`,
  );
  if (finished.size) log(`skipped ${finished.size} finished cell(s): ${[...finished].join(' ')}`);
  const failures = todo.length
    ? await runCells(out, todo, jobs, identity, {
        task: task.name,
        iters,
        sets,
        checkpoint,
        ...(scenario ? { scenario: scenario.name } : {}),
        ...(startEval ? { startEval } : {}),
      })
    : [];
  if (failures.length)
    throw new Error(
      `${failures.length} of ${todo.length} cell(s) failed (a restart reruns them; logs in ${out}/cells/<cell>/train.log): ${failures.join('; ')}`,
    );
  const table = writeOutputs(out, manifest, loadCells(out, cells, identity));
  printSummary(out, table.rows);
}

async function mergeMain(dirs: string[], out: string | undefined, only: string | undefined): Promise<void> {
  if (dirs.length === 0) throw new Error('--merge needs the directories to merge');
  if (!out) throw new Error('missing --out for --merge');
  const manifests = dirs.map((d) => {
    const m = readManifest(d);
    if (!m) throw new Error(`--merge: '${d}' is not a compare output (no compare.json)`);
    return m;
  });
  const identity = manifests[0].identity;
  manifests.forEach((m, i) => {
    const diff = identityMismatch(identity, m.identity);
    if (diff) throw new Error(`--merge: '${dirs[i]}' differs from '${dirs[0]}' in ${diff}`);
  });
  checkSameIdentity(out, identity);
  const all = [...new Set(manifests.flatMap((m) => m.algos))];
  // --algos: tabulate these methods only (e.g. the ones whose shards have all finished).
  const algos = only === undefined ? all : parseAlgos(only);
  const absent = algos.find((a) => !all.includes(a));
  if (absent)
    throw new Error(
      `--merge --algos: '${absent}' is in none of the merged directories (they hold ${all.join(', ')})`,
    );
  const seeds = [...new Set(manifests.flatMap((m) => m.seeds))].sort((a, b) => a - b);
  const wanted = algos.flatMap((algo) => seeds.map((seed) => ({ algo, seed })));
  const cells: CellResult[] = [];
  const missing: string[] = [];
  for (const c of wanted) {
    // The first shard holding the finished cell; copied into `out` byte for byte, so read once.
    let found: { dir: string; cell: CellResult } | null = null;
    for (const d of dirs) {
      const cell = readCell(cellDir(d, c), c, identity);
      if (cell) {
        found = { dir: d, cell };
        break;
      }
    }
    if (!found) missing.push(cellId(c));
    else {
      const dst = cellDir(out, c);
      if (path.resolve(cellDir(found.dir, c)) !== path.resolve(dst)) {
        rmSync(dst, { recursive: true, force: true });
        cpSync(cellDir(found.dir, c), dst, { recursive: true });
      }
      cells.push(found.cell);
    }
  }
  if (missing.length)
    throw new Error(
      `--merge: ${missing.length} cell(s) missing (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}); finish their shards first`,
    );
  const manifest: CompareManifest = {
    kind: 'scope-lab/compare',
    version: 1,
    identity,
    algos,
    seeds,
    overrides: manifests[0].overrides,
    provenance: provenance(process.argv.slice(2), null, null),
    sources: manifests.flatMap((m) => m.sources ?? [m]),
    ...(manifests[0].scenario ? { scenario: manifests[0].scenario } : {}),
  };
  writeManifest(out, manifest);
  log(`merged ${cells.length} cells from ${dirs.length} director${dirs.length > 1 ? 'ies' : 'y'} -> ${out}`);
  printSummary(out, writeOutputs(out, manifest, cells).rows);
}

await cliMain(HELP, async () => {
  const { values, positionals } = parseArgs({
    options: {
      task: { type: 'string' },
      algos: { type: 'string' },
      seeds: { type: 'string' },
      iters: { type: 'string' },
      jobs: { type: 'string' },
      shard: { type: 'string' },
      scenario: { type: 'string' },
      checkpoint: { type: 'string' },
      set: { type: 'string', multiple: true, default: [] },
      out: { type: 'string' },
      merge: { type: 'boolean', default: false },
      'start-eval': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return console.log(HELP);
  if (values.merge) {
    const extra = ['task', 'seeds', 'iters', 'jobs', 'shard', 'checkpoint', 'scenario', 'start-eval'].filter(
      (k) => values[k as 'task'],
    );
    if (extra.length || values.set.length)
      throw new Error(`--merge takes only directories and --out (got --${extra[0] ?? 'set'})`);
    return mergeMain(positionals, values.out, values.algos);
  }
  if (positionals.length) throw new Error(`unexpected argument '${positionals[0]}'`);
  await compareMain(values);
});
