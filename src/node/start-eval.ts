/**
 * A run's starting evaluation, kept in its run directory (`start-eval.json`) so that other runs from
 * the same checkpoint can reuse it (`train --start-eval FILE`, and `compare`, whose cells all start
 * from one checkpoint). The evaluation draws from its own fixed-seed RNG (src/core/evaluate.ts) and
 * reads the policy only, so it depends on nothing but the starting policy and the evaluation options
 * in the key below: not on the algorithm or the seed. Reusing it changes no number of the run (tested
 * in tests/cli.test.ts); it saves the edge scenario's 1100 x 64-sample evaluation per cell.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { EvalResult } from '../core/evaluate';
import type { RlConfig } from '../core/rl/config';
import { START_EVAL, writeFileAtomic } from './run-dir';

/** What the starting evaluation depends on. */
export interface StartEvalKey {
  task: string;
  /** CRC-32 of the starting policy checkpoint's blob (as in run.json). */
  policyCrc: string;
  evalN: number;
  edgeEvalN: number;
  temperature: number;
  topP: number;
}

interface StartEvalRecord {
  kind: 'scope-lab/start-eval';
  version: 1;
  key: StartEvalKey;
  result: EvalResult;
}

export function startEvalKey(cfg: RlConfig, policyCrc: string): StartEvalKey {
  const { task, evalN, edgeEvalN, temperature, topP } = cfg;
  return { task, policyCrc, evalN, edgeEvalN, temperature, topP };
}

export function writeStartEval(file: string, key: StartEvalKey, result: EvalResult): void {
  const record: StartEvalRecord = { kind: 'scope-lab/start-eval', version: 1, key, result };
  writeFileAtomic(file, `${JSON.stringify(record)}\n`);
}

/** The evaluation in `file`, or a one-line error saying why it does not belong to this run. */
export function readStartEval(file: string, key: StartEvalKey): EvalResult {
  if (!existsSync(file)) throw new Error(`--start-eval: no file '${file}'`);
  let record: StartEvalRecord;
  try {
    record = JSON.parse(readFileSync(file, 'utf8')) as StartEvalRecord;
  } catch {
    throw new Error(`--start-eval: '${file}' is not JSON`);
  }
  if (record?.kind !== 'scope-lab/start-eval' || record.version !== 1 || !record.result)
    throw new Error(`--start-eval: '${file}' is not a starting evaluation (${START_EVAL})`);
  for (const k of Object.keys(key) as (keyof StartEvalKey)[])
    if (record.key?.[k] !== key[k])
      throw new Error(
        `--start-eval: '${file}' was evaluated with ${k} ${JSON.stringify(record.key?.[k])}, this run has ${JSON.stringify(key[k])}`,
      );
  return record.result;
}
