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

/**
 * The edge evaluation's numbers (edge scenario; summary.start/end, null elsewhere): measured at the
 * start and end of a run only, so they have no curves over iterations.
 */
export const EDGE_METRICS = [
  'edgeTestAcc',
  'edgePassAt1',
  'edgePassAt4',
  'edgePassAt16',
  'edgePassAt64',
  'edgeOodAcc',
  'edgeDiversity',
  'edgeAllWrongGroups',
] as const;
export type EdgeMetric = (typeof EDGE_METRICS)[number];
/** pass@k of the edge evaluation by k. */
export const EDGE_PASS_AT: readonly [number, EdgeMetric][] = [
  [1, 'edgePassAt1'],
  [4, 'edgePassAt4'],
  [16, 'edgePassAt16'],
  [64, 'edgePassAt64'],
];

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
  /** Edge evaluation at the start and end, and end minus start (all n = 0 without one). */
  edgeStart: Record<EdgeMetric, Stat>;
  edgeEnd: Record<EdgeMetric, Stat>;
  edgeGain: Record<EdgeMetric, Stat>;
  /** Ordinary test greedy accuracy, end minus start, per seed (negative: forgotten). */
  forgetting: Stat;
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

const diff = (a: number | null | undefined, b: number | null | undefined): number | null =>
  typeof a === 'number' && typeof b === 'number' ? a - b : null;

/** Metrics a paired comparison can read from a finished cell's summary. */
export type PairedMetric = EvalMetric | EdgeMetric | 'forgetting';

function endValue(c: CellResult, m: PairedMetric): number | null {
  if (m === 'forgetting') return c.summary.end.testAcc - c.summary.start.testAcc;
  return finite(c.summary.end[m]);
}

/** One hypothesis' test: algorithm a minus algorithm b on a metric, per seed both have. */
export interface PairedDiff {
  a: Algo;
  b: Algo;
  metric: PairedMetric;
  /** Seeds in both, ascending, and a - b for each. */
  seeds: number[];
  diffs: number[];
  /** Mean difference and its 95% CI half-width (Student t over the paired seeds; null for n < 2). */
  mean: number | null;
  ci95: number | null;
  /** 'a>b' when the whole interval is above 0, 'a<b' when below, else 'unresolved'. */
  verdict: 'a>b' | 'a<b' | 'unresolved';
}

/**
 * Paired per-seed difference a - b of an end metric: cells with the same seed start from the same
 * checkpoint and draw the same evaluation sets, so the seed-to-seed noise they share cancels.
 */
export function pairedDiff(cells: readonly CellResult[], a: Algo, b: Algo, metric: PairedMetric): PairedDiff {
  const bySeedOf = (algo: Algo) => new Map(cells.filter((c) => c.algo === algo).map((c) => [c.seed, c]));
  const ca = bySeedOf(a);
  const cb = bySeedOf(b);
  const seeds: number[] = [];
  const diffs: number[] = [];
  for (const seed of [...ca.keys()].sort((x, y) => x - y)) {
    const other = cb.get(seed);
    const va = endValue(ca.get(seed)!, metric);
    const vb = other ? endValue(other, metric) : null;
    if (va !== null && vb !== null) {
      seeds.push(seed);
      diffs.push(va - vb);
    }
  }
  const m = finite(mean(diffs));
  const h = finite(ci95(diffs));
  const verdict =
    m === null || h === null ? 'unresolved' : m - h > 0 ? 'a>b' : m + h < 0 ? 'a<b' : 'unresolved';
  return { a, b, metric, seeds, diffs, mean: m, ci95: h, verdict };
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
    const edgeStart = {} as Record<EdgeMetric, Stat>;
    const edgeEnd = {} as Record<EdgeMetric, Stat>;
    const edgeGain = {} as Record<EdgeMetric, Stat>;
    for (const m of EDGE_METRICS) {
      edgeStart[m] = stat(s.map((x) => x.start[m]));
      edgeEnd[m] = stat(s.map((x) => x.end[m]));
      edgeGain[m] = stat(s.map((x) => diff(x.end[m], x.start[m])));
    }
    rows.push({
      algo,
      seeds: own.map((c) => c.seed),
      end,
      start,
      gain,
      edgeStart,
      edgeEnd,
      edgeGain,
      forgetting: stat(s.map((x) => x.end.testAcc - x.start.testAcc)),
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
