/**
 * The registry: algorithm name -> module. `ALGOS` (config.ts) is its list of keys, so adding an
 * algorithm is one module in this folder and one line here (plus its label in the UI).
 */
import { grpo } from './grpo';
import { luffy } from './luffy';
import { prmDense } from './prm-dense';
import { rrpo, srpo } from './resets';
import { scope } from './scope';
import { scopeSftControl } from './scope-sft-control';
import { sftControl } from './sft-control';
import type { Algorithm } from './types';

export const ALGORITHMS = {
  grpo,
  'prm-dense': prmDense,
  luffy,
  scope,
  rrpo,
  srpo,
  'sft-control': sftControl,
  'scope-sft-control': scopeSftControl,
} as const satisfies Record<string, Algorithm>;

export type Algo = keyof typeof ALGORITHMS;
