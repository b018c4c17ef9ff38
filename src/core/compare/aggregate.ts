/**
 * Aggregation over seeds: per algorithm, the mean and 95% confidence half-width (Student t over the
 * seeds, metrics.ts `ci95`) of each end metric, and learning curves (mean with a CI band) per metric.
 * Everything here is plain data in, plain data out; missing values are `null`, never a made-up 0.
 */
import { ci95, mean } from '../metrics';
import type { Algo } from '../rl/config';
import type { RunSummary } from '../rl/run';
import type { IterationMetrics } from '../rl/trainer';

/** One finished cell: its summary.json and its metrics.jsonl lines. */
export interface CellResult {
  algo: Algo;
  seed: number;
  summary: RunSummary;
  iterations: IterationMetrics[];
}

/** Mean and 95% CI half-width over the seeds that have a value (null: no value, or n < 2 for the CI). */
export interface Stat {
  mean: number | null;
  ci95: number | null;
  n: number;
  /** Per seed, in seed order (null where the cell has no value). */
  values: (number | null)[];
}

/** Evaluation metrics recorded at the start, at every evaluation and at the end. */
export const EVAL_METRICS = [
  'testAcc',
  'testAccSampled',
  'oodAcc',
  'passAt8',
  'diversity',
  'correctPaths',
] as const;
export type EvalMetric = (typeof EVAL_METRICS)[number];

/** End-of-run columns: the evaluation metrics plus SCOPE's run-wide salvage rate. */
export const END_METRICS = [...EVAL_METRICS, 'salvageRate'] as const;
export type EndMetric = (typeof END_METRICS)[number];

/** Per-iteration training metrics drawn as (smoothed) curves. */
export const TRAIN_METRICS = ['rewardMean', 'entropy', 'salvageRate', 'zeroStdGroupFrac'] as const;
export type TrainMetric = (typeof TRAIN_METRICS)[number];

export interface AlgoRow {
  algo: Algo;
  seeds: number[];
  end: Record<EndMetric, Stat>;
  start: Record<EvalMetric, Stat>;
  /** End minus start, per seed (paired, so its CI is usually tighter than the end value's). */
  gain: Record<EvalMetric, Stat>;
  /** Lowest sampled test accuracy at any evaluation (how far a run dipped). */
  minTestAccSampled: Stat;
  wallSeconds: Stat;
  secondsPerIter: Stat;
}

const finite = (x: number | null | undefined): number | null =>
  typeof x === 'number' && Number.isFinite(x) ? x : null;

export function stat(values: readonly (number | null | undefined)[]): Stat {
  const vals = values.map(finite);
  const present = vals.filter((v): v is number => v !== null);
  return { mean: finite(mean(present)), ci95: finite(ci95(present)), n: present.length, values: vals };
}

function bySeed(cells: readonly CellResult[]): CellResult[] {
  return [...cells].sort((a, b) => a.seed - b.seed);
}

/** One row per algorithm (in `algos` order; algorithms without cells are left out). */
export function aggregate(cells: readonly CellResult[], algos: readonly Algo[]): AlgoRow[] {
  const rows: AlgoRow[] = [];
  for (const algo of algos) {
    const own = bySeed(cells.filter((c) => c.algo === algo));
    if (own.length === 0) continue;
    const s = own.map((c) => c.summary);
    const end = {} as Record<EndMetric, Stat>;
    const start = {} as Record<EvalMetric, Stat>;
    const gain = {} as Record<EvalMetric, Stat>;
    for (const m of EVAL_METRICS) {
      end[m] = stat(s.map((x) => x.end[m]));
      start[m] = stat(s.map((x) => x.start[m]));
      gain[m] = stat(s.map((x) => x.end[m] - x.start[m]));
    }
    end.salvageRate = stat(s.map((x) => x.salvageRate));
    rows.push({
      algo,
      seeds: own.map((c) => c.seed),
      end,
      start,
      gain,
      minTestAccSampled: stat(s.map((x) => x.minTestAccSampled)),
      wallSeconds: stat(s.map((x) => x.wallSeconds)),
      secondsPerIter: stat(s.map((x) => x.secondsPerIter)),
    });
  }
  return rows;
}

export interface CurvePoint {
  x: number;
  mean: number;
  /** mean -/+ the CI half-width (equal to mean when fewer than two seeds have a value). */
  lo: number;
  hi: number;
  n: number;
}

export interface Curve {
  metric: string;
  kind: 'eval' | 'train';
  /** Half-width of the centred moving average applied per seed (train curves; 0 for eval). */
  smoothing: number;
  series: { algo: Algo; points: CurvePoint[] }[];
}

/** Mean and CI band across seeds at each x that some seed has. */
function band(perSeed: readonly Map<number, number>[]): CurvePoint[] {
  const xs = [...new Set(perSeed.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  return xs.map((x) => {
    const vals = perSeed.flatMap((m) => (m.has(x) ? [m.get(x)!] : []));
    const mu = mean(vals);
    const h = finite(ci95(vals)) ?? 0;
    return { x, mean: mu, lo: mu - h, hi: mu + h, n: vals.length };
  });
}

/** Evaluation curve: the start (x = 0) and every evaluation logged in metrics.jsonl. */
export function evalCurve(cells: readonly CellResult[], algos: readonly Algo[], metric: EvalMetric): Curve {
  const series = algos.flatMap((algo) => {
    const perSeed = bySeed(cells.filter((c) => c.algo === algo)).map((c) => {
      const m = new Map<number, number>();
      const v0 = finite(c.summary.start[metric]);
      if (v0 !== null) m.set(0, v0);
      for (const it of c.iterations) {
        const v = finite(it.eval?.[metric]);
        if (v !== null) m.set(it.iter, v);
      }
      return m;
    });
    return perSeed.length ? [{ algo, points: band(perSeed) }] : [];
  });
  return { metric, kind: 'eval', smoothing: 0, series };
}

/**
 * Centred moving average with half-width h over the non-null values in each window (null where the
 * window holds none). Smooths the per-iteration noise of training metrics before averaging seeds.
 */
export function smooth(values: readonly (number | null)[], h: number): (number | null)[] {
  return values.map((_, i) => {
    let sum = 0;
    let n = 0;
    for (let j = Math.max(0, i - h); j <= Math.min(values.length - 1, i + h); j++) {
      const v = values[j];
      if (v !== null && Number.isFinite(v)) {
        sum += v;
        n++;
      }
    }
    return n ? sum / n : null;
  });
}

/** Default smoothing half-width: about 5% of the run on each side. */
export function smoothingFor(iters: number): number {
  return Math.floor(iters / 20);
}

/** Training curve: one value per iteration and seed, smoothed, then averaged over seeds. */
export function trainCurve(
  cells: readonly CellResult[],
  algos: readonly Algo[],
  metric: TrainMetric,
  h: number,
): Curve {
  const series = algos.flatMap((algo) => {
    const perSeed = bySeed(cells.filter((c) => c.algo === algo)).map((c) => {
      const its = [...c.iterations].sort((a, b) => a.iter - b.iter);
      const smoothed = smooth(
        its.map((it) => finite(it[metric])),
        h,
      );
      const m = new Map<number, number>();
      its.forEach((it, i) => {
        const v = smoothed[i];
        if (v !== null) m.set(it.iter, v);
      });
      return m;
    });
    const points = band(perSeed);
    return points.length ? [{ algo, points }] : [];
  });
  return { metric, kind: 'train', smoothing: h, series };
}

/** Every curve of a comparison: the evaluation metrics, then the training metrics. */
export function allCurves(cells: readonly CellResult[], algos: readonly Algo[], iters: number): Curve[] {
  const h = smoothingFor(iters);
  return [
    ...EVAL_METRICS.map((m) => evalCurve(cells, algos, m)),
    ...TRAIN_METRICS.map((m) => trainCurve(cells, algos, m, h)),
  ];
}
