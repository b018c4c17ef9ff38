/**
 * What the page says about each knob it exposes: label, one-line help, which algorithms use it.
 * Defaults and ranges are NOT repeated here: they come from DEFAULT_RL and the RlConfig schema
 * (`knobRange`), so the page, the CLI and the URL agree by construction.
 */
import { type Algo, type RlConfig, rlConfigSchema } from '../core/rl/config';

/** The RlConfig knobs the page shows (the main knobs of algorithms.md); the rest keep DEFAULT_RL. */
export const UI_KNOBS = [
  'iters',
  'seed',
  'promptsPerIter',
  'groupSize',
  'lr',
  'temperature',
  'tau',
  'rectifyCap',
  'gamma',
  'beta',
  'pMin',
  'evalEvery',
  'evalN',
] as const satisfies readonly (keyof RlConfig)[];
export type UiKnob = (typeof UI_KNOBS)[number];

export interface KnobInfo {
  label: string;
  /** One short sentence a student can act on. */
  help: string;
  /** Algorithms the knob changes anything for (undefined: all). */
  algos?: readonly Algo[];
  /** Step of the number input ('any' for log-scale knobs such as lr). */
  step: number | 'any';
}

export const KNOB_INFO: Record<UiKnob, KnobInfo> = {
  iters: { label: 'Iterations', help: 'How many RL iterations the run lasts.', step: 1 },
  seed: {
    label: 'Seed',
    help: 'Same seed, same problems and samples: runs differ only by what you change.',
    step: 1,
  },
  promptsPerIter: { label: 'Prompts per iteration (P)', help: 'Problems sampled each iteration.', step: 1 },
  groupSize: {
    label: 'Group size (G)',
    help: 'Rollouts per prompt; advantages compare rollouts within a group. RRPO/SRPO need it even.',
    step: 1,
  },
  lr: {
    label: 'Learning rate',
    help: 'Adam step size. Small on purpose: larger values make this tiny model forget.',
    step: 'any',
  },
  temperature: {
    label: 'Temperature',
    help: 'Sampling temperature: higher means more varied rollouts.',
    step: 0.1,
  },
  tau: {
    label: 'PRM threshold τ',
    help: 'A step counts as wrong when the PRM scores it below τ.',
    algos: ['scope'],
    step: 0.05,
  },
  rectifyCap: {
    label: 'Rectification cap R',
    help: 'At most R failed rollouts per group are corrected. Empty = ceil(G/4).',
    algos: ['scope'],
    step: 1,
  },
  gamma: {
    label: 'Off-policy shaping γ',
    help: 'Teacher tokens are weighted by p/(p+γ): small γ keeps learning them until p is near 1.',
    algos: ['scope', 'luffy'],
    step: 0.01,
  },
  beta: { label: 'KL weight β', help: 'Pull towards the starting policy; 0 turns it off.', step: 0.01 },
  pMin: {
    label: 'Self-localisation pMin',
    help: 'SRPO resets at the first step holding a token with probability below pMin.',
    algos: ['srpo'],
    step: 0.05,
  },
  evalEvery: {
    label: 'Evaluate every',
    help: 'Iterations between accuracy evaluations (also at the start and the end).',
    step: 1,
  },
  evalN: { label: 'Evaluation problems', help: 'Problems per held-out split at each evaluation.', step: 10 },
};

export interface KnobRange {
  min?: number;
  max?: number;
  int: boolean;
  nullable: boolean;
}

interface NumberLike {
  minValue?: number | null;
  maxValue?: number | null;
  isInt?: boolean;
  unwrap?: () => NumberLike;
}

/** The schema's bounds of a numeric knob, for the input's min/max attributes. */
export function knobRange(key: UiKnob): KnobRange {
  let field = rlConfigSchema.shape[key] as unknown as NumberLike;
  const nullable = typeof field.unwrap === 'function';
  if (field.unwrap) field = field.unwrap();
  const finite = (v: number | null | undefined) => (v != null && Number.isFinite(v) ? v : undefined);
  return { min: finite(field.minValue), max: finite(field.maxValue), int: !!field.isInt, nullable };
}

/** Does the knob change anything for this algorithm (or the compared one)? */
export function knobApplies(key: UiKnob, algos: readonly Algo[]): boolean {
  const only = KNOB_INFO[key].algos;
  return !only || algos.some((a) => only.includes(a));
}

export const ALGO_LABEL: Record<Algo, string> = {
  grpo: 'GRPO',
  'prm-dense': 'PRM-dense',
  luffy: 'LUFFY',
  scope: 'SCOPE',
  rrpo: 'RRPO',
  srpo: 'SRPO',
  'sft-control': 'SFT control',
  'scope-sft-control': 'SCOPE-token SFT control',
};
