/**
 * What a comparison writes: the table.json record (identity, provenance, rows), table.md (paste-able
 * into docs/results.md) and one SVG chart per curve.
 */
import type { Algo, RlConfig } from '../rl/config';
import { getScenario, type Hypothesis, type ScenarioName } from '../scenarios';
import {
  type AlgoRow,
  type Curve,
  EDGE_PASS_AT,
  type EvalMetric,
  type PairedDiff,
  type Stat,
} from './aggregate';
import type { Shard } from './cells';
import { type ChartSeries, lineChartSvg } from './svg';

/** The resolved RL config every cell shares (everything but the algorithm and the seed). */
export type BaseConfig = Omit<RlConfig, 'algo' | 'seed'>;

/**
 * What makes two comparisons comparable: cells of runs with equal identities may be mixed (resumed,
 * merged); anything else is refused.
 */
export interface CompareIdentity {
  task: string;
  config: BaseConfig;
  /** SHA-256 of the starting checkpoints (policy and PRM, manifest and blob). */
  checkpointSha256: string;
}

/** Where and how cells were run. */
export interface Provenance {
  command: string;
  commit: string;
  machine: { cores: number; cpuModel: string; platform: string; node: string };
  jobs: number | null;
  shard: Shard | null;
  date: string;
}

/** compare.json: written when a comparison starts, so restarts and merges can check identity. */
export interface CompareManifest {
  kind: 'scope-lab/compare';
  version: 1;
  identity: CompareIdentity;
  algos: Algo[];
  seeds: number[];
  /** The --set overrides as given (the identity holds the resolved config). */
  overrides: Record<string, unknown>;
  provenance: Provenance;
  /** For a merge: the manifests of the merged directories. */
  sources?: CompareManifest[];
  /** The scenario the comparison ran (absent: plain --task, i.e. the shipped defaults). */
  scenario?: ScenarioName;
}

export interface CompareTable extends CompareManifest {
  rows: AlgoRow[];
  /** The scenario's pre-registered hypotheses, each tested as a paired per-seed difference. */
  paired?: (PairedDiff & { hypothesis: Hypothesis })[];
}

/** The pre-registered hypotheses of a comparison's scenario (none without a scenario). */
export function hypothesesOf(m: CompareManifest): readonly Hypothesis[] {
  return m.scenario ? (getScenario(m.scenario).hypotheses ?? []) : [];
}

/** One colour per algorithm, the same in every chart. */
export const ALGO_COLORS: Record<Algo, string> = {
  grpo: '#4e79a7',
  'prm-dense': '#f28e2b',
  luffy: '#59a14f',
  scope: '#e15759',
  rrpo: '#b07aa1',
  srpo: '#9c755f',
  'sft-control': '#7f7f7f',
  'scope-sft-control': '#edc948',
};

/** Where each charted metric can lie (CI bands are clipped to it). */
const METRIC_RANGE: Record<string, [number, number | undefined]> = {
  testAcc: [0, 1],
  testAccSampled: [0, 1],
  oodAcc: [0, 1],
  passAt8: [0, 1],
  diversity: [0, 1],
  correctPaths: [0, undefined],
  rewardMean: [0, undefined], // prm-dense adds lambda * mean step score to the 0/1 outcome
  entropy: [0, undefined],
  salvageRate: [0, 1],
  zeroStdGroupFrac: [0, 1],
};

export function curveSvg(task: string, curve: Curve, seeds: number): string {
  const series: ChartSeries[] = curve.series.map((s) => ({
    name: s.algo,
    color: ALGO_COLORS[s.algo],
    points: s.points.map((p) => ({ x: p.x, y: p.mean, lo: p.lo, hi: p.hi })),
  }));
  const how =
    curve.kind === 'train' && curve.smoothing > 0 ? `, smoothed over ${2 * curve.smoothing + 1} iters` : '';
  const [yMin, yMax] = METRIC_RANGE[curve.metric] ?? [undefined, undefined];
  return lineChartSvg({
    yMin,
    yMax,
    xMinStep: 1,
    title: `${task}: ${curve.metric} (mean ± 95% CI, ${seeds} seed${seeds === 1 ? '' : 's'}${how})`,
    xLabel: 'iteration',
    yLabel: curve.metric,
    series,
  });
}

function fmt(v: number | null, digits: number): string {
  return v === null ? 'n/a' : v.toFixed(digits);
}

/** "0.612 ± 0.031" (no ± with fewer than two seeds). */
export function fmtStat(s: Stat, digits = 3): string {
  if (s.mean === null) return 'n/a';
  return s.ci95 === null ? fmt(s.mean, digits) : `${fmt(s.mean, digits)} ± ${fmt(s.ci95, digits)}`;
}

function mdTable(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

const END_COLUMNS: [EvalMetric | 'salvageRate', string][] = [
  ['testAcc', 'testAcc'],
  ['testAccSampled', 'testAccSampled'],
  ['oodAcc', 'oodAcc'],
  ['passAt8', 'pass@8'],
  ['diversity', 'diversity'],
  ['correctPaths', 'correctPaths'],
  ['salvageRate', 'salvageRate'],
];

const EDGE_COLUMNS: [keyof AlgoRow['edgeEnd'], string][] = [
  ['edgeTestAcc', 'greedy'],
  ['edgePassAt1', 'pass@1'],
  ['edgePassAt4', 'pass@4'],
  ['edgePassAt16', 'pass@16'],
  ['edgePassAt64', 'pass@64'],
  ['edgeOodAcc', 'ood greedy'],
  ['edgeDiversity', 'diversity'],
  ['edgeAllWrongGroups', 'all-wrong groups'],
];

const hasEdge = (rows: readonly AlgoRow[]) => rows.some((r) => r.edgeEnd.edgePassAt1.n > 0);

/** Pass@k against k (log scale) at the end of the runs, per algorithm, with the start in grey. */
export function passAtKSvg(task: string, rows: readonly AlgoRow[], seeds: number): string | null {
  if (!hasEdge(rows)) return null;
  const pts = (st: Record<string, Stat>) =>
    EDGE_PASS_AT.flatMap(([k, m]) => {
      const v = st[m];
      if (v.mean === null) return [];
      const h = v.ci95 ?? 0;
      return [{ x: Math.log2(k), y: v.mean, lo: v.mean - h, hi: v.mean + h }];
    });
  const series: ChartSeries[] = [
    { name: 'start', color: '#bbbbbb', points: pts(rows[0].edgeStart) },
    ...rows.map((r) => ({ name: r.algo, color: ALGO_COLORS[r.algo] ?? '#333333', points: pts(r.edgeEnd) })),
  ];
  return lineChartSvg({
    yMin: 0,
    yMax: 1,
    xMinStep: 1,
    title: `${task}: held-out edge pass@k at the end (mean ± 95% CI, ${seeds} seed${seeds === 1 ? '' : 's'})`,
    xLabel: 'log2 k',
    yLabel: 'pass@k',
    series,
  });
}

const fmtSigned = (s: { mean: number | null; ci95: number | null }) =>
  s.mean === null
    ? 'n/a'
    : `${s.mean >= 0 ? '+' : ''}${s.mean.toFixed(3)}${s.ci95 === null ? '' : ` ± ${s.ci95.toFixed(3)}`}`;

function edgeSection(t: CompareTable, imageDir: string): string[] {
  if (!hasEdge(t.rows)) return [];
  const start = t.rows[0].edgeStart;
  return [
    '### Edge of competence: held-out carry-chain problems (edge-test) and longer chains (edge-ood)',
    '',
    `Start: ${EDGE_COLUMNS.map(([k, h]) => `${h} ${fmtStat(start[k])}`).join(', ')}.`,
    '',
    mdTable(
      ['algo', ...EDGE_COLUMNS.map(([, h]) => h), 'gain pass@1', 'gain pass@16', 'forgetting'],
      t.rows.map((r) => [
        r.algo,
        ...EDGE_COLUMNS.map(([k]) => fmtStat(r.edgeEnd[k])),
        fmtSigned(r.edgeGain.edgePassAt1),
        fmtSigned(r.edgeGain.edgePassAt16),
        fmtSigned(r.forgetting),
      ]),
    ),
    '',
    `![pass@k](${imageDir}/passAtK.svg)`,
    '',
  ];
}

function pairedSection(t: CompareTable): string[] {
  if (!t.paired?.length) return [];
  return [
    '### Pre-registered hypotheses: paired per-seed differences (a - b, mean ± 95% CI, Student t)',
    '',
    mdTable(
      ['hypothesis', 'metric', 'seeds', 'a - b', 'verdict'],
      t.paired.map((p) => [
        p.hypothesis.claim,
        p.metric,
        String(p.seeds.length),
        fmtSigned(p),
        p.seeds.length < 2
          ? 'n/a'
          : p.verdict === 'a>b'
            ? 'supported'
            : p.verdict === 'a<b'
              ? 'reversed'
              : 'not supported',
      ]),
    ),
    '',
  ];
}

/** Knobs worth naming in the header (the full config is in table.json). */
const HEADLINE_KNOBS: (keyof BaseConfig)[] = [
  'promptsPerIter',
  'groupSize',
  'lr',
  'warmupIters',
  'temperature',
  'evalEvery',
  'evalN',
];

/** table.md: a section that can be pasted into docs/results.md (images relative to `imageDir`). */
export function renderMarkdown(t: CompareTable, curves: readonly Curve[], imageDir = 'curves'): string {
  const p = t.provenance;
  const c = t.identity.config;
  const knobs = HEADLINE_KNOBS.map((k) => `${k}=${c[k]}`).join(', ');
  const overrides = Object.entries(t.overrides)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const sources = t.sources ?? [t];
  const machines = [
    ...new Set(
      sources.map(
        (s) =>
          `${s.provenance.machine.cores} cores (${s.provenance.machine.cpuModel}), ${s.provenance.machine.platform}, node ${s.provenance.machine.node}`,
      ),
    ),
  ];
  // The cells ran where their sources ran (for a merge, possibly several commits and machines).
  const commits = [...new Set(sources.map((s) => s.provenance.commit))];
  const lines = [
    `## ${t.identity.task}${t.scenario ? ` (scenario ${t.scenario})` : ''}: ${t.rows.length} algorithms × ${t.seeds.length} seeds, ${c.iters} iterations`,
    '',
    `- Command: \`${p.command}\``,
    ...(t.sources
      ? [`- Merged from: ${t.sources.map((s) => `\`${s.provenance.command}\``).join(', ')}`]
      : []),
    `- Commit: ${commits.map((c) => `\`${c}\``).join(', ')}; machine: ${machines.join('; ')}; ${t.sources ? 'merged' : `jobs ${p.jobs}`}; ${p.date}`,
    `- Config: ${knobs}${overrides ? `; overrides: ${overrides}` : ''} (full config in table.json)`,
    '',
    '### End of training (mean ± 95% CI over seeds, Student t)',
    '',
    mdTable(
      ['algo', 'seeds', ...END_COLUMNS.map(([, h]) => h), 'forgetting', 'wall s'],
      t.rows.map((r) => [
        r.algo,
        String(r.seeds.length),
        ...END_COLUMNS.map(([k]) => fmtStat(r.end[k])),
        fmtSigned(r.forgetting),
        fmtStat(r.wallSeconds, 0),
      ]),
    ),
    '',
    'forgetting: greedy accuracy on the ordinary test split, end minus start, per seed (negative: lost).',
    '',
    ...edgeSection(t, imageDir),
    ...pairedSection(t),
    '### Start, gain and stability',
    '',
    mdTable(
      ['algo', 'start testAcc', 'start sampled', 'gain testAcc', 'gain sampled', 'min sampled', 's/iter'],
      t.rows.map((r) => [
        r.algo,
        fmtStat(r.start.testAcc),
        fmtStat(r.start.testAccSampled),
        fmtStat(r.gain.testAcc),
        fmtStat(r.gain.testAccSampled),
        fmtStat(r.minTestAccSampled),
        fmtStat(r.secondsPerIter, 2),
      ]),
    ),
    '',
    '### Learning curves',
    '',
    ...curves
      .filter((cv) => cv.series.length > 0)
      .map((cv) => `![${cv.metric}](${imageDir}/${cv.metric}.svg)`),
    '',
  ];
  return lines.join('\n');
}

/** Why two identities differ, in a few words ("config lr (2e-5 vs 1e-5)"), or null when equal. */
export function identityMismatch(a: CompareIdentity, b: CompareIdentity): string | null {
  if (a.task !== b.task) return `task (${a.task} vs ${b.task})`;
  const keys = [...new Set([...Object.keys(a.config), ...Object.keys(b.config)])] as (keyof BaseConfig)[];
  for (const k of keys)
    if (JSON.stringify(a.config[k]) !== JSON.stringify(b.config[k]))
      return `config ${k} (${JSON.stringify(a.config[k])} vs ${JSON.stringify(b.config[k])})`;
  if (a.checkpointSha256 !== b.checkpointSha256)
    return `starting checkpoint (sha256 ${a.checkpointSha256.slice(0, 12)} vs ${b.checkpointSha256.slice(0, 12)})`;
  return null;
}
