/**
 * What the charts plot, as data: each chart is a list of metric lines read from the iteration
 * metrics (every iteration) or the evaluations (iteration 0, every evalEvery, the end). Pure
 * functions turn one or two runs' histories into uPlot's aligned columns and into a text
 * alternative (the latest values) for screen readers and for the 360 px layout.
 */
import type { EvalResult } from '../core/evaluate';
import type { IterationMetrics } from '../core/rl/trainer';
import { ms, num, pct } from './format';

export interface EvalPoint {
  iter: number;
  result: EvalResult;
}

/** Everything the charts need from one run. */
export interface RunHistory {
  label: string;
  /** One entry per iteration, ascending. */
  metrics: IterationMetrics[];
  /** One entry per evaluation, ascending (iteration 0 first). */
  evals: EvalPoint[];
}

/**
 * Lit `hasChanged` for RunHistory lists: a run's history is new only when its metrics or evals array
 * is (RunModel replaces them, never mutates them), so other run events redraw no chart.
 */
export function historiesChanged(a: RunHistory[] | undefined, b: RunHistory[] | undefined): boolean {
  if (!a || !b || a.length !== b.length) return true;
  return a.some((x, i) => x.label !== b[i].label || x.metrics !== b[i].metrics || x.evals !== b[i].evals);
}

export type Unit = 'pct' | 'num' | 'ms';

interface LineBase {
  label: string;
  /** Drawn only once the reader turns it on in the legend (uPlot's series toggle). */
  hidden?: boolean;
}

export type MetricLine =
  | (LineBase & { source: 'iter'; get: (m: IterationMetrics) => number | null })
  | (LineBase & { source: 'eval'; get: (e: EvalResult) => number | null });

export interface ChartSpec {
  id: string;
  title: string;
  /** One sentence under the title: what to look for. */
  caption: string;
  unit: Unit;
  /** The y-axis title, with its unit. */
  yLabel: string;
  lines: MetricLine[];
}

/**
 * The reward a reader can compare across methods: the 0/1 outcome of the policy's own samples, before
 * any rectification, teacher replacement, reset or PRM shaping (`rewardMean`; null for sft-control).
 */
export const OWN_REWARD_LABEL = "policy's own samples: reward";
/** What was trained on (`trainRewardMean`): teacher-written steps count, so it is not comparable. */
export const TRAIN_REWARD_LABEL = 'reward of trained-on rollouts (includes teacher steps)';

export const CHARTS: readonly ChartSpec[] = [
  {
    id: 'accuracy',
    title: 'Held-out accuracy',
    caption: 'Evaluated at the start, every few iterations and at the end, on fixed problem sets.',
    unit: 'pct',
    yLabel: 'accuracy (% of problems)',
    lines: [
      { label: 'test (sampled)', source: 'eval', get: (e) => e.testAccSampled },
      { label: 'test (greedy)', source: 'eval', get: (e) => e.testAcc },
      { label: 'OOD (greedy)', source: 'eval', get: (e) => e.oodAcc },
    ],
  },
  {
    id: 'reward',
    title: 'Reward',
    caption:
      "Share of the policy's own samples with the right answer, before any teacher help: comparable across " +
      'methods. The reward of what was trained on (teacher steps included) is a separate line, off by default.',
    unit: 'num',
    yLabel: 'mean reward (0 to 1)',
    lines: [
      { label: OWN_REWARD_LABEL, source: 'iter', get: (m) => m.rewardMean },
      {
        label: TRAIN_REWARD_LABEL,
        source: 'iter',
        hidden: true,
        get: (m) => m.trainRewardMean ?? null,
      },
    ],
  },
  {
    id: 'diversity',
    title: 'Diversity',
    caption: 'Distinct step sequences per group of samples (1 = all different).',
    unit: 'num',
    yLabel: 'distinct share (0 to 1)',
    lines: [
      { label: 'training groups', source: 'iter', get: (m) => m.diversity },
      { label: 'test samples', source: 'eval', get: (e) => e.diversity },
    ],
  },
  {
    id: 'salvage',
    title: 'Salvage rate',
    caption:
      'SCOPE: share of rectifications where the policy itself continued after the corrected step to the right ' +
      'answer (answer-step corrections never count).',
    unit: 'pct',
    yLabel: 'salvaged (% of rectified)',
    lines: [{ label: 'salvaged by the policy', source: 'iter', get: (m) => m.salvageRate }],
  },
  {
    id: 'entropy',
    title: 'Entropy',
    caption: 'How unsure the policy is on the tokens it trains on (nats); a collapse shows as a drop.',
    unit: 'num',
    yLabel: 'entropy (nats per token)',
    lines: [{ label: 'entropy', source: 'iter', get: (m) => m.entropy }],
  },
  {
    id: 'time',
    title: 'Time per iteration',
    caption: 'Wall time of each phase of an iteration.',
    unit: 'ms',
    yLabel: 'time (ms)',
    lines: [
      { label: 'generate', source: 'iter', get: (m) => m.timeMs.generate },
      { label: 'PRM', source: 'iter', get: (m) => m.timeMs.prm },
      { label: 'rectify/reset', source: 'iter', get: (m) => m.timeMs.rectify },
      { label: 'update', source: 'iter', get: (m) => m.timeMs.update },
    ],
  },
];

export function chartSpec(id: string): ChartSpec {
  const spec = CHARTS.find((c) => c.id === id);
  if (!spec)
    throw new Error(`unknown chart '${id}' (expected one of: ${CHARTS.map((c) => c.id).join(', ')})`);
  return spec;
}

export interface ChartSeries {
  /** "test (sampled)" alone, or "SCOPE · test (sampled)" when runs are compared. */
  label: string;
  run: number;
  line: number;
  /** Off until the reader turns it on (MetricLine.hidden). */
  hidden: boolean;
  values: (number | null)[];
}

export interface ChartData {
  /** Iterations: the union over runs and lines, ascending. */
  x: number[];
  series: ChartSeries[];
}

function points(line: MetricLine, run: RunHistory): Map<number, number | null> {
  const out = new Map<number, number | null>();
  if (line.source === 'iter') for (const m of run.metrics) out.set(m.iter, line.get(m));
  else for (const e of run.evals) out.set(e.iter, line.get(e.result));
  return out;
}

const finiteOrNull = (v: number | null | undefined) => (v != null && Number.isFinite(v) ? v : null);

/** Aligned columns for uPlot: x = every iteration any line has a point at; gaps are null. */
export function chartData(spec: ChartSpec, runs: readonly RunHistory[]): ChartData {
  const perLine = runs.flatMap((run, r) =>
    spec.lines.map((line, l) => ({ r, l, run, pts: points(line, run) })),
  );
  const x = [...new Set(perLine.flatMap((p) => [...p.pts.keys()]))].sort((a, b) => a - b);
  return {
    x,
    series: perLine.map(({ r, l, run, pts }) => ({
      label: runs.length > 1 ? `${run.label} · ${spec.lines[l].label}` : spec.lines[l].label,
      run: r,
      line: l,
      hidden: spec.lines[l].hidden === true,
      values: x.map((i) => finiteOrNull(pts.get(i))),
    })),
  };
}

export function formatValue(unit: Unit, v: number | null): string {
  return unit === 'pct' ? pct(v) : unit === 'ms' ? ms(v) : num(v);
}

/**
 * The chart as one sentence: each line's latest value and its iteration, e.g.
 * "test (sampled) 26.8% at iteration 10; OOD (greedy) 30.0% at iteration 10". "no data yet" before.
 */
export function latestSummary(spec: ChartSpec, data: ChartData): string {
  const parts: string[] = [];
  for (const s of data.series) {
    if (s.hidden) continue;
    let i = s.values.length - 1;
    while (i >= 0 && s.values[i] === null) i--;
    if (i >= 0) parts.push(`${s.label} ${formatValue(spec.unit, s.values[i])} at iteration ${data.x[i]}`);
  }
  return parts.length ? parts.join('; ') : 'no data yet';
}
