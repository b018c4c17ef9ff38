/**
 * The rules that judge a soak (scripts/soak.ts): samples taken by the runner page's soak hook
 * (src/runner/soak.ts) with training paused at an iteration boundary. Pure, so
 * tests/soak-rules.test.ts checks the rules on made-up samples.
 */
import type { SoakSample } from '../runner/soak';

export type { SoakSample };

/** The documented rules (docs/reliability.md); every number is named here. */
export const SOAK_RULES = {
  /** Live tensors at rest: every sample equals the first one, in each worker (no growth at all). */
  tensorGrowth: 0,
  /** JS heap: the last quarter's max is at most the first quarter's max x this + the slack. */
  heapFactor: 1.2,
  heapSlackBytes: 8 * 2 ** 20,
  /** IndexedDB: the same rule, plus an allowance per metrics row added since (rows are kept by
   *  design, ~0.5 KB each; checkpoints are not: retention keeps the last K). */
  idbFactor: 1.2,
  idbSlackBytes: 8 * 2 ** 20,
  idbBytesPerMetricsRow: 2048,
} as const;

export interface SoakVerdict {
  ok: boolean;
  failures: string[];
  figures: {
    samples: number;
    tensors: { policy: number[]; prm: (number | null)[] };
    heapFirstQuarterMax: number;
    heapLastQuarterMax: number;
    idbFirstQuarterMax: number;
    idbLastQuarterMax: number;
    idbAllowance: number;
    maxCheckpointsStored: number;
  };
}

const quarter = (xs: SoakSample[], which: 'first' | 'last') => {
  const n = Math.max(1, Math.floor(xs.length / 4));
  return which === 'first' ? xs.slice(0, n) : xs.slice(xs.length - n);
};
const max = (xs: number[]) => Math.max(...xs);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** Judge a soak's samples (in iteration order) against SOAK_RULES, K = checkpoints kept per run. */
export function judgeSoak(samples: SoakSample[], keepLastCheckpoints: number): SoakVerdict {
  const failures: string[] = [];
  if (samples.length < 4) failures.push(`only ${samples.length} samples: at least 4 are needed`);
  const s = samples.length ? samples : [emptySample()];
  const [first] = s;

  for (const which of ['policy', 'prm'] as const) {
    const grown = s.filter(
      (x) => (x.tensors[which] ?? 0) - (first.tensors[which] ?? 0) > SOAK_RULES.tensorGrowth,
    );
    if (grown.length)
      failures.push(
        `${which} tensors grew: ${first.tensors[which]} at iteration ${first.iter}, ${grown[0].tensors[which]} at ${grown[0].iter}`,
      );
  }

  const heapFirst = max(quarter(s, 'first').map((x) => x.heap.totalBytes));
  const heapLast = max(quarter(s, 'last').map((x) => x.heap.totalBytes));
  const heapBound = heapFirst * SOAK_RULES.heapFactor + SOAK_RULES.heapSlackBytes;
  if (heapLast > heapBound)
    failures.push(`JS heap grew: last quarter max ${mib(heapLast)} > bound ${mib(heapBound)}`);

  const firstQ = quarter(s, 'first');
  const idbFirst = max(firstQ.map((x) => x.idb.usageBytes));
  const idbLast = max(quarter(s, 'last').map((x) => x.idb.usageBytes));
  const rowsAdded = s[s.length - 1].idb.metricsRows - firstQ[firstQ.length - 1].idb.metricsRows;
  const idbAllowance = Math.max(0, rowsAdded) * SOAK_RULES.idbBytesPerMetricsRow;
  const idbBound = idbFirst * SOAK_RULES.idbFactor + idbAllowance + SOAK_RULES.idbSlackBytes;
  if (idbLast > idbBound)
    failures.push(`IndexedDB grew: last quarter max ${mib(idbLast)} > bound ${mib(idbBound)}`);
  const maxStored = max(s.map((x) => x.idb.checkpoints));
  if (maxStored > keepLastCheckpoints)
    failures.push(`${maxStored} checkpoints stored, retention keeps ${keepLastCheckpoints}`);

  return {
    ok: failures.length === 0,
    failures,
    figures: {
      samples: samples.length,
      tensors: { policy: s.map((x) => x.tensors.policy), prm: s.map((x) => x.tensors.prm) },
      heapFirstQuarterMax: heapFirst,
      heapLastQuarterMax: heapLast,
      idbFirstQuarterMax: idbFirst,
      idbLastQuarterMax: idbLast,
      idbAllowance,
      maxCheckpointsStored: maxStored,
    },
  };
}

function emptySample(): SoakSample {
  return {
    iter: 0,
    wallMs: 0,
    tensors: { policy: 0, prm: null },
    heap: { totalBytes: 0, pageBytes: 0, workerBytes: 0 },
    idb: { usageBytes: 0, checkpoints: 0, metricsRows: 0 },
  };
}
