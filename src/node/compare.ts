/**
 * The disk and process side of `npm run compare`: manifests, finished cells, running cells as child
 * processes of scripts/train.ts, and writing the table, curves and charts.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aggregate, allCurves, type CellResult, pairedDiff } from '../core/compare/aggregate';
import { type Cell, cellId } from '../core/compare/cells';
import {
  type CompareIdentity,
  type CompareManifest,
  type CompareTable,
  curveSvg,
  hypothesesOf,
  identityMismatch,
  type Provenance,
  passAtKSvg,
  renderMarkdown,
} from '../core/compare/report';
import type { RunSummary } from '../core/rl/run';
import type { IterationMetrics } from '../core/rl/trainer';
import { START_EVAL, writeFileAtomic } from './run-dir';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TRAIN_SCRIPT = path.join(REPO_ROOT, 'scripts', 'train.ts');
const MANIFEST = 'compare.json';

export const cellDir = (out: string, c: Cell) => path.join(out, 'cells', cellId(c));

/** SHA-256 over the starting policy and PRM checkpoints (so merged shards started from the same). */
export function checkpointSha256(dir: string): string {
  const h = createHash('sha256');
  for (const f of ['policy.json', 'policy.bin', 'prm.json', 'prm.bin']) {
    const p = path.join(dir, f);
    if (!existsSync(p)) throw new Error(`no starting checkpoint file '${p}'`);
    h.update(f).update(readFileSync(p));
  }
  return h.digest('hex');
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

/** HEAD's commit, with "-dirty" when tracked files differ from it. */
export function gitCommit(): string {
  const head = git(['rev-parse', 'HEAD']);
  if (!head) return 'unknown';
  return git(['status', '--porcelain', '--untracked-files=no']) ? `${head}-dirty` : head;
}

const shellQuote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

export function provenance(argv: string[], jobs: number | null, shard: Provenance['shard']): Provenance {
  const cpus = os.cpus();
  return {
    command: ['npm', 'run', 'compare', '--', ...argv].map(shellQuote).join(' '),
    commit: gitCommit(),
    machine: {
      cores: os.availableParallelism(),
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      platform: `${os.platform()}-${os.arch()}`,
      node: process.version,
    },
    jobs,
    shard,
    date: new Date().toISOString(),
  };
}

export function readManifest(dir: string): CompareManifest | null {
  const p = path.join(dir, MANIFEST);
  if (!existsSync(p)) return null;
  const m = JSON.parse(readFileSync(p, 'utf8')) as CompareManifest;
  if (m.kind !== 'scope-lab/compare' || m.version !== 1) throw new Error(`'${p}' is not a compare manifest`);
  return m;
}

/** Refuse to mix cells of different comparisons in one directory. */
export function checkSameIdentity(dir: string, identity: CompareIdentity): void {
  const old = readManifest(dir);
  const diff = old && identityMismatch(old.identity, identity);
  if (diff) throw new Error(`'${dir}' holds a comparison with a different ${diff}; choose another --out`);
}

export function writeManifest(dir: string, m: CompareManifest): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, MANIFEST), `${JSON.stringify(m, null, 2)}\n`);
}

/**
 * A finished cell (its summary.json exists and parses), or null. A summary whose config is not the
 * comparison's is an error, never silently mixed in.
 */
export function readCell(dir: string, cell: Cell, identity: CompareIdentity): CellResult | null {
  const summaryPath = path.join(dir, 'summary.json');
  if (!existsSync(summaryPath)) return null;
  let summary: RunSummary;
  try {
    summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as RunSummary;
  } catch {
    return null; // torn write: the cell counts as unfinished and is rerun
  }
  const { algo, seed, ...rest } = summary.config;
  const diff =
    algo !== cell.algo || seed !== cell.seed
      ? `cell (${algo}-s${seed})`
      : identityMismatch(identity, { ...identity, task: summary.task, config: rest });
  if (diff) throw new Error(`'${dir}' was run with a different ${diff}`);
  const metricsPath = path.join(dir, 'metrics.jsonl');
  const iterations = existsSync(metricsPath)
    ? readFileSync(metricsPath, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as IterationMetrics)
    : [];
  return { algo: cell.algo, seed: cell.seed, summary, iterations };
}

/** Iterations logged so far by a running cell (lines in its metrics.jsonl). */
export function iterationsLogged(dir: string): number {
  const p = path.join(dir, 'metrics.jsonl');
  if (!existsSync(p)) return 0;
  let n = 0;
  for (const b of readFileSync(p)) if (b === 10) n++;
  return n;
}

export interface CellJob {
  cell: Cell;
  child: ChildProcess;
  done: Promise<void>;
}

/** What every cell of a comparison is run with (the options of scripts/train.ts it gets). */
export interface CellOptions {
  task: string;
  iters: number;
  sets: string[];
  checkpoint: string;
  scenario?: string;
  /** A starting evaluation to reuse (`train --start-eval`). */
  startEval?: string | null;
}

/**
 * Run one cell as a child process of scripts/train.ts, in a cleared directory (a partial run from a
 * crash is thrown away). Its output goes to <cell>/train.log; `done` rejects on a non-zero exit.
 */
export function startCell(out: string, cell: Cell, opts: CellOptions): CellJob {
  const dir = cellDir(out, cell);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const logPath = path.join(dir, 'train.log');
  const log = openSync(logPath, 'w');
  const args = [
    ...['--import', 'tsx', TRAIN_SCRIPT],
    ...['--task', opts.task, '--algo', cell.algo, '--seed', String(cell.seed), '--iters', String(opts.iters)],
    ...(opts.scenario ? ['--scenario', opts.scenario] : []),
    ...opts.sets.flatMap((s) => ['--set', s]),
    ...['--checkpoint', opts.checkpoint, '--json', '--out', dir],
    ...(opts.startEval ? ['--start-eval', path.resolve(opts.startEval)] : []),
  ];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', log, log] });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      closeSync(log);
      if (code === 0 && existsSync(path.join(dir, 'summary.json'))) return resolve();
      const lines = readFileSync(logPath, 'utf8').trim().split('\n');
      const why = lines.reverse().find((l) => l.startsWith('error:')) ?? lines[0] ?? '';
      reject(
        new Error(`${cellId(cell)} ${signal ? `killed by ${signal}` : `exited ${code}`}: ${why.trim()}`),
      );
    });
  });
  return { cell, child, done };
}

/**
 * The starting evaluation the cells of `out` share: `out/start-eval.json`, or else a copy of the
 * first one a cell has written (every cell starts from the same checkpoint with the same evaluation
 * options: the identity says so). null until a cell has evaluated its start.
 */
export function sharedStartEval(out: string): string | null {
  const shared = path.join(out, START_EVAL);
  if (existsSync(shared)) return shared;
  const cells = path.join(out, 'cells');
  if (!existsSync(cells)) return null;
  for (const name of readdirSync(cells).sort()) {
    const own = path.join(cells, name, START_EVAL);
    if (existsSync(own)) {
      writeFileAtomic(shared, readFileSync(own));
      return shared;
    }
  }
  return null;
}

/** table.json, curves.json, table.md and curves/<metric>.svg for the given cells. */
export function writeOutputs(out: string, manifest: CompareManifest, cells: CellResult[]): CompareTable {
  const rows = aggregate(cells, manifest.algos);
  const curves = allCurves(cells, manifest.algos, manifest.identity.config.iters);
  const paired = hypothesesOf(manifest)
    .filter((h) => manifest.algos.includes(h.a) && manifest.algos.includes(h.b))
    .map((h) => ({ ...pairedDiff(cells, h.a, h.b, h.metric), hypothesis: h }));
  const table: CompareTable = { ...manifest, rows, ...(paired.length ? { paired } : {}) };
  mkdirSync(path.join(out, 'curves'), { recursive: true });
  writeFileSync(path.join(out, 'table.json'), `${JSON.stringify(table, null, 2)}\n`);
  writeFileSync(path.join(out, 'curves.json'), `${JSON.stringify(curves)}\n`);
  writeFileSync(path.join(out, 'table.md'), renderMarkdown(table, curves));
  const seeds = new Set(cells.map((c) => c.seed)).size;
  for (const c of curves)
    if (c.series.length)
      writeFileSync(path.join(out, 'curves', `${c.metric}.svg`), curveSvg(manifest.identity.task, c, seeds));
  const passK = passAtKSvg(manifest.identity.task, rows, seeds);
  if (passK) writeFileSync(path.join(out, 'curves', 'passAtK.svg'), passK);
  return table;
}
