/**
 * A training run's directory (`train --out DIR`, node runtime), written so that a kill at any
 * moment leaves a run that loads and resumes:
 *
 *   DIR/run.json          what the run is: config, start checkpoints (directory and CRC-32s), backend
 *   DIR/metrics.jsonl     one row per iteration
 *   DIR/checkpoint.json   the pointer: {"iter": N, "dir": "ckpt-00000N"}
 *   DIR/ckpt-00000N/      policy.json + policy.bin + state.json (loop counters, the start evaluation)
 *   DIR/summary.json      at the end
 *
 * A checkpoint is one unit: its files are written into a fresh directory and fsynced, the
 * directory is renamed into place, and then the pointer is replaced by one atomic rename (of a
 * fsynced temporary file). A kill before that rename leaves the pointer on the previous
 * checkpoint; older checkpoint directories are deleted only after it. The PRM and the KL
 * reference are not copied: they are the start checkpoints, named in run.json with their CRC-32s,
 * which `--resume` checks.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
} from 'node:fs';
import path from 'node:path';
import { verifyCheckpoint } from '../core/checkpoint';
import type { EvalResult } from '../core/evaluate';
import { parseRlConfig, type RlConfig } from '../core/rl/config';
import type { RunLoopMark } from '../core/rl/run';
import type { StoredCheckpoint } from '../core/rl/services';
import { z } from '../core/zod';
import { readCheckpoint, writeDurable } from './files';

export const RUN_JSON = 'run.json';
export const METRICS = 'metrics.jsonl';
export const SUMMARY = 'summary.json';
export const POINTER = 'checkpoint.json';
/** The run's starting evaluation, for other runs to reuse (src/node/start-eval.ts). */
export const START_EVAL = 'start-eval.json';
const CKPT_PREFIX = 'ckpt-';

/**
 * Test hook: with `SCOPE_LAB_KILL_IN_CHECKPOINT=N`, the process SIGKILLs itself during its N-th
 * checkpoint write, after policy.bin and before policy.json (the two halves of the pair).
 * tests/cli.test.ts uses it to show that the previous checkpoint still loads and `--resume` works.
 */
export const KILL_HOOK_ENV = 'SCOPE_LAB_KILL_IN_CHECKPOINT';
let checkpointWrites = 0;

const runRecordSchema = z
  .object({
    kind: z.literal('scope-lab/run'),
    version: z.literal(1),
    runtime: z.enum(['node', 'browser']),
    backend: z.string(),
    config: z.record(z.string(), z.unknown()),
    /** Where the run started from, and the CRC-32 of each start checkpoint's blob. */
    start: z.object({ dir: z.string(), policy: z.string(), prm: z.string() }).nullable(),
  })
  .strict();
export type RunRecord = Omit<z.infer<typeof runRecordSchema>, 'config'> & { config: RlConfig };

const checkpointStateSchema = z.object({
  iter: z.number().int().min(0),
  mark: z.object({
    done: z.number().int().min(0),
    rectified: z.number().int().min(0),
    salvaged: z.number().int().min(0),
    skipped: z.number().int().min(0),
  }),
  /** The run's starting evaluation (the summary's `start`), kept for a resumed run's summary. */
  start: z.record(z.string(), z.unknown()).nullable(),
});
export interface CheckpointState {
  iter: number;
  mark: RunLoopMark;
  start: EvalResult | null;
}

const pointerSchema = z.object({
  iter: z.number().int().min(0),
  dir: z.string().regex(/^ckpt-\d{6,}$/),
});

// ---------------------------------------------------------------------------------------------
// Durable writes

/** fsync a directory, so a rename or a new entry in it survives a power cut. */
function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replace `file` with `data` in one atomic rename of a fsynced temporary file. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeDurable(tmp, data);
  renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}

// ---------------------------------------------------------------------------------------------
// The directory

/** Virtual file systems: writing a run there fails or blocks, so it is refused up front. */
const VIRTUAL_ROOTS = ['/proc', '/sys', '/dev'];

/** The real path of `dir`, or of its nearest existing ancestor joined with the rest. */
function realTarget(dir: string): string {
  let head = path.resolve(dir);
  const tail: string[] = [];
  while (!existsSync(head) && path.dirname(head) !== head) {
    tail.unshift(path.basename(head));
    head = path.dirname(head);
  }
  return path.join(realpathSync(head), ...tail);
}

/** Does `dir` hold (part of) a run? */
export function holdsRun(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return [RUN_JSON, METRICS, SUMMARY, POINTER, 'policy.json'].some((f) => existsSync(path.join(dir, f)));
}

/** Entries a run directory may hold; `--force` refuses to delete a directory with anything else. */
function isRunEntry(name: string): boolean {
  return (
    [RUN_JSON, METRICS, SUMMARY, POINTER, START_EVAL, 'policy.json', 'policy.bin', 'train.log'].includes(
      name,
    ) ||
    name.startsWith(CKPT_PREFIX) ||
    /\.tmp-\d+$/.test(name)
  );
}

/**
 * Make `out` ready for a new run. A directory that holds a run is refused without `force`; with
 * it, the old run is moved aside in one rename (so the directory is never a mix of two runs, even
 * if this process is killed now) and deleted.
 */
export function prepareRunDir(out: string, force: boolean): void {
  const real = realTarget(out);
  const root = VIRTUAL_ROOTS.find((r) => real === r || real.startsWith(`${r}/`));
  if (root)
    throw new Error(`--out '${out}' is under ${root}, a virtual file system; choose a directory on disk`);
  if (holdsRun(out)) {
    if (!force)
      throw new Error(`'${out}' already holds a run; pass --force to overwrite it or choose another --out`);
    const strangers = readdirSync(out).filter((n) => !isRunEntry(n));
    if (strangers.length)
      throw new Error(
        `--force: '${out}' holds more than a run (${strangers.slice(0, 3).join(', ')}); it is not deleted: choose another --out`,
      );
    const aside = `${path.resolve(out)}.replaced-${process.pid}`;
    renameSync(out, aside);
    rmSync(aside, { recursive: true, force: true });
  }
  mkdirSync(out, { recursive: true });
}

export function writeRunRecord(out: string, record: RunRecord): void {
  writeFileAtomic(path.join(out, RUN_JSON), `${JSON.stringify(record, null, 2)}\n`);
}

export function readRunRecord(out: string): RunRecord {
  const file = path.join(out, RUN_JSON);
  if (!existsSync(file)) throw new Error(`'${out}' holds no run to resume (no ${RUN_JSON})`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  const res = runRecordSchema.safeParse(raw);
  if (!res.success) throw new Error(`${file} is not a scope-lab run record: ${res.error.issues[0].message}`);
  try {
    return { ...res.data, config: parseRlConfig(res.data.config) };
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

function ckptName(iter: number): string {
  return `${CKPT_PREFIX}${String(iter).padStart(6, '0')}`;
}

/** The checkpoint the pointer names, or null (no checkpoint yet). */
function readPointer(out: string): z.infer<typeof pointerSchema> | null {
  const file = path.join(out, POINTER);
  if (!existsSync(file)) return null;
  const res = pointerSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!res.success) throw new Error(`${file} is damaged: ${res.error.issues[0].message}`);
  return res.data;
}

/**
 * Save the policy checkpoint of iteration `state.iter` as one unit (see the file comment), after
 * making the metrics rows so far durable.
 */
export function saveRunCheckpoint(out: string, ck: StoredCheckpoint, state: CheckpointState): void {
  verifyCheckpoint(ck.manifestJson, ck.blob); // a corrupt or non-finite checkpoint is never stored
  checkpointWrites++;
  const kill = Number(process.env[KILL_HOOK_ENV] ?? 0);
  const metrics = path.join(out, METRICS);
  if (existsSync(metrics)) {
    const fd = openSync(metrics, 'r+');
    fsyncSync(fd);
    closeSync(fd);
  }
  const name = ckptName(state.iter);
  const final = path.join(out, name);
  const tmp = path.join(out, `${name}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  writeDurable(path.join(tmp, 'policy.bin'), ck.blob);
  if (kill === checkpointWrites) process.kill(process.pid, 'SIGKILL');
  writeDurable(path.join(tmp, 'policy.json'), ck.manifestJson);
  writeDurable(path.join(tmp, 'state.json'), `${JSON.stringify(state)}\n`);
  fsyncDir(tmp);
  // A directory of this iteration left by an earlier, killed attempt is not the pointer's (the
  // pointer only ever names a completed unit of an earlier iteration), so it can go.
  const current = readPointer(out);
  if (current?.dir !== name) rmSync(final, { recursive: true, force: true });
  else throw new Error(`checkpoint of iteration ${state.iter} already saved in '${out}'`);
  renameSync(tmp, final);
  fsyncDir(out);
  writeFileAtomic(path.join(out, POINTER), `${JSON.stringify({ iter: state.iter, dir: name })}\n`);
  // Only now is the previous checkpoint no longer needed.
  for (const entry of readdirSync(out))
    if (entry.startsWith(CKPT_PREFIX) && entry !== name) rmSync(path.join(out, entry), { recursive: true });
}

/** The latest complete checkpoint of a run directory (validated), or null if it has none yet. */
export function loadRunCheckpoint(
  out: string,
  task: string,
): { ck: StoredCheckpoint; state: CheckpointState } | null {
  const pointer = readPointer(out);
  if (!pointer) return null;
  const dir = path.join(out, pointer.dir);
  const ck = readCheckpoint(dir, 'policy', task);
  const raw = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8'));
  const res = checkpointStateSchema.safeParse(raw);
  if (!res.success || res.data.iter !== pointer.iter)
    throw new Error(`${path.join(dir, 'state.json')} is damaged or not the pointer's iteration`);
  return { ck, state: res.data as CheckpointState };
}

/** The directory holding a run's latest checkpoint (`DIR` itself when it is not a run directory). */
export function checkpointDirOf(dir: string): string {
  const pointer = readPointer(dir);
  return pointer ? path.join(dir, pointer.dir) : dir;
}

/** Keep the first `rows` lines of metrics.jsonl (the iterations up to the checkpoint resumed from). */
export function truncateMetrics(out: string, rows: number): object[] {
  const file = path.join(out, METRICS);
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  if (lines.length < rows)
    throw new Error(`${file} has ${lines.length} rows, fewer than the checkpoint's ${rows} iterations`);
  const kept = lines.slice(0, rows);
  writeFileAtomic(file, kept.map((l) => `${l}\n`).join(''));
  return kept.map((l) => JSON.parse(l) as object);
}
