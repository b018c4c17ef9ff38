import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  aggregate,
  type CellResult,
  evalCurve,
  pairedDiff,
  smooth,
  stat,
  trainCurve,
} from '../src/core/compare/aggregate';
import { cellId, cellList, parseAlgos, parseShard, shardCells } from '../src/core/compare/cells';
import {
  type CompareIdentity,
  type CompareTable,
  identityMismatch,
  passAtKSvg,
  renderMarkdown,
} from '../src/core/compare/report';
import { lineChartSvg, niceTicks } from '../src/core/compare/svg';
import { ALGOS, type Algo, DEFAULT_RL } from '../src/core/rl/config';
import type { RunSummary } from '../src/core/rl/run';
import type { IterationMetrics } from '../src/core/rl/trainer';

/** A cell with hand-picked numbers: end = start + gain, salvage only for scope. */
function fakeCell(algo: Algo, seed: number, endTest: number, startTest: number): CellResult {
  const ev = (t: number) => ({
    testAcc: t,
    testAccSampled: t / 2,
    oodAcc: t / 4,
    passAt8: t,
    diversity: 0.5,
    correctPaths: 1,
  });
  const summary = {
    task: 'add',
    algo,
    seed,
    iters: 4,
    backend: 'cpu',
    wallSeconds: 10 * seed,
    secondsPerIter: 2,
    start: ev(startTest),
    end: ev(endTest),
    minTestAccSampled: Math.min(startTest, endTest) / 2,
    salvageRate: algo === 'scope' ? seed / 10 : null,
    rectifications: algo === 'scope' ? 10 : null,
    skippedUpdates: 0,
    config: { ...DEFAULT_RL, algo, seed, iters: 4 },
  } as RunSummary;
  const iterations = [1, 2, 3, 4].map(
    (iter) =>
      ({
        iter,
        rewardMean: iter === 3 ? null : iter * seed,
        ...(iter % 2 === 0 ? { eval: { ...ev(endTest), testAcc: endTest + iter / 100 } } : {}),
      }) as unknown as IterationMetrics,
  );
  return { algo, seed, summary, iterations };
}

/** An edge-scenario cell: pass@k at the end = start + lift * (1, 2, 3, 1), greedy test end - start = forget. */
function edgeCell(algo: Algo, seed: number, lift: number, forget: number): CellResult {
  const c = fakeCell(algo, seed, 0.8 + forget, 0.8);
  const edge = (l: number) => ({
    edgeTestAcc: 0.3 + l,
    edgePassAt1: 0.05 + l,
    edgePassAt4: 0.18 + 2 * l,
    edgePassAt16: 0.43 + 3 * l,
    edgePassAt64: 0.66 + l,
    edgeOodAcc: 0.04,
    edgeDiversity: 0.9 - l,
    edgeAllWrongGroups: 0.7 - l,
  });
  c.summary = {
    ...c.summary,
    start: { ...c.summary.start, ...edge(0) },
    end: { ...c.summary.end, ...edge(lift) },
    forgetting: forget,
  };
  return c;
}

describe('edge scenario: forgetting, pass@k, paired differences', () => {
  // scope beats grpo by 0.02, 0.03, 0.04 in pass@1 on seeds 1-3; srpo vs rrpo: +0.01, -0.01, +0.00.
  const cells = [
    edgeCell('grpo', 1, 0.1, -0.1),
    edgeCell('grpo', 2, 0.1, -0.2),
    edgeCell('grpo', 3, 0.1, -0.3),
    edgeCell('scope', 1, 0.12, -0.1),
    edgeCell('scope', 2, 0.13, -0.1),
    edgeCell('scope', 3, 0.14, -0.1),
    edgeCell('rrpo', 1, 0.1, 0),
    edgeCell('rrpo', 2, 0.1, 0),
    edgeCell('rrpo', 3, 0.1, 0),
    edgeCell('srpo', 1, 0.11, 0),
    edgeCell('srpo', 2, 0.09, 0),
    edgeCell('srpo', 3, 0.1, 0),
    edgeCell('scope', 4, 0.5, 0), // no grpo partner: left out of the paired test
  ];

  it('rows carry the edge start/end/gain and forgetting per seed', () => {
    const [grpo, scope] = aggregate(cells, ['grpo', 'scope']);
    expect(grpo.forgetting.values.map((v) => Number(v?.toFixed(10)))).toEqual([-0.1, -0.2, -0.3]);
    expect(grpo.forgetting.mean).toBeCloseTo(-0.2, 12);
    expect(grpo.edgeStart.edgePassAt1.mean).toBeCloseTo(0.05, 12);
    expect(grpo.edgeEnd.edgePassAt16.mean).toBeCloseTo(0.73, 12);
    expect(grpo.edgeGain.edgePassAt64.mean).toBeCloseTo(0.1, 12);
    expect(scope.edgeEnd.edgePassAt1.n).toBe(4);
    // Cells without an edge evaluation have none (not zeros).
    expect(aggregate([fakeCell('grpo', 1, 0.5, 0.4)], ['grpo'])[0].edgeEnd.edgePassAt1.n).toBe(0);
  });

  it('paired differences on hand numbers: mean and Student t CI over the seeds both algorithms have', () => {
    const d = pairedDiff(cells, 'scope', 'grpo', 'edgePassAt1');
    expect(d.seeds).toEqual([1, 2, 3]);
    expect(d.diffs.map((x) => Number(x.toFixed(10)))).toEqual([0.02, 0.03, 0.04]);
    expect(d.mean).toBeCloseTo(0.03, 12);
    // sd(0.02, 0.03, 0.04) = 0.01, t(0.975, 2) = 4.303
    expect(d.ci95).toBeCloseTo((4.303 * 0.01) / Math.sqrt(3), 8);
    expect(d.verdict).toBe('a>b');
    expect(pairedDiff(cells, 'grpo', 'scope', 'edgePassAt1').verdict).toBe('a<b');
    expect(pairedDiff(cells, 'srpo', 'rrpo', 'edgePassAt1').verdict).toBe('unresolved');
    const f = pairedDiff(cells, 'scope', 'grpo', 'forgetting');
    expect(f.mean).toBeCloseTo(0.1, 12); // scope forgets 0.1, grpo 0.2 on average
  });

  it('markdown has the edge table, the pass@k chart and the hypotheses with verdicts; the chart plots log2 k', () => {
    const rows = aggregate(cells, ['grpo', 'scope', 'rrpo', 'srpo']);
    const hyp = (a: Algo, b: Algo, claim: string) => ({
      ...pairedDiff(cells, a, b, 'edgePassAt1'),
      hypothesis: { a, b, metric: 'edgePassAt1' as const, claim },
    });
    const t: CompareTable = {
      kind: 'scope-lab/compare',
      version: 1,
      identity: { task: 'add', config: { ...DEFAULT_RL }, checkpointSha256: 'x' },
      algos: ['grpo', 'scope', 'rrpo', 'srpo'],
      seeds: [1, 2, 3, 4],
      overrides: {},
      scenario: 'edge',
      provenance: {
        command: 'npm run compare -- --scenario edge',
        commit: 'abc',
        machine: { cores: 2, cpuModel: 'cpu', platform: 'linux-x64', node: 'v20' },
        jobs: 2,
        shard: null,
        date: 'today',
      },
      rows,
      paired: [hyp('scope', 'grpo', 'H1'), hyp('grpo', 'scope', 'H1r'), hyp('srpo', 'rrpo', 'H4')],
    };
    const md = renderMarkdown(t, []);
    expect(md).toMatch(/^## add \(scenario edge\)/);
    expect(md).toMatch(/Start: greedy 0\.300 ± 0\.000, pass@1 0\.050 ± 0\.000/);
    expect(md).toMatch(/\| grpo \| 0\.400 ± 0\.000 \| 0\.150 ± 0\.000 \| 0\.380 ± 0\.000 \|/);
    expect(md).toMatch(/!\[pass@k\]\(curves\/passAtK\.svg\)/);
    expect(md).toMatch(/\| H1 \| edgePassAt1 \| 3 \| \+0\.030 ± 0\.025 \| supported \|/);
    expect(md).toMatch(/\| H1r \| edgePassAt1 \| 3 \| -0\.030 ± 0\.025 \| reversed \|/);
    expect(md).toMatch(/\| H4 \| edgePassAt1 \| 3 \| [+-]0\.000 ± 0\.025 \| not supported \|/);
    const svg = passAtKSvg('add', rows, 3);
    expect(svg).toContain('<svg');
    expect(svg).toContain('log2 k');
    expect(svg).toContain('>start<');
    expect(passAtKSvg('add', aggregate([fakeCell('grpo', 1, 0.5, 0.4)], ['grpo']), 1)).toBeNull();
  });
});

describe('aggregation over seeds', () => {
  const cells = [
    fakeCell('grpo', 1, 0.5, 0.4),
    fakeCell('grpo', 2, 0.6, 0.4),
    fakeCell('grpo', 3, 0.7, 0.4),
    fakeCell('scope', 2, 0.9, 0.4),
    fakeCell('scope', 1, 0.8, 0.4),
  ];

  it('mean and Student-t 95% CI on hand numbers', () => {
    // sd(0.5, 0.6, 0.7) = 0.1; t(0.975, 2) = 4.303; half-width 4.303 * 0.1 / sqrt(3)
    const s = stat([0.5, 0.6, 0.7]);
    expect(s.mean).toBeCloseTo(0.6, 12);
    expect(s.ci95).toBeCloseTo((4.303 * 0.1) / Math.sqrt(3), 10);
    expect(s.n).toBe(3);
    // nulls and NaN are absent values, not zeros; one value has no CI
    expect(stat([null, 2, Number.NaN])).toEqual({ mean: 2, ci95: null, n: 1, values: [null, 2, null] });
    expect(stat([null, null])).toEqual({ mean: null, ci95: null, n: 0, values: [null, null] });
  });

  it('one row per algorithm in the given order, seeds sorted, paired gains', () => {
    const rows = aggregate(cells, ['scope', 'luffy', 'grpo']);
    expect(rows.map((r) => r.algo)).toEqual(['scope', 'grpo']); // luffy has no cells
    const [scope, grpo] = rows;
    expect(scope.seeds).toEqual([1, 2]);
    expect(scope.end.testAcc.values).toEqual([0.8, 0.9]);
    // sd(0.8, 0.9) = 0.0707; t(0.975, 1) = 12.706
    expect(scope.end.testAcc.ci95).toBeCloseTo((12.706 * Math.SQRT1_2 * 0.1) / Math.SQRT2, 10);
    expect(scope.end.salvageRate.mean).toBeCloseTo(0.15, 12);
    expect(grpo.end.salvageRate).toEqual({ mean: null, ci95: null, n: 0, values: [null, null, null] });
    expect(grpo.end.testAccSampled.mean).toBeCloseTo(0.3, 12);
    expect(grpo.gain.testAcc.mean).toBeCloseTo(0.2, 12);
    expect(grpo.start.testAcc.ci95).toBeCloseTo(0, 12); // identical starts: zero width, not NaN
    expect(grpo.wallSeconds.mean).toBeCloseTo(20, 12);
    expect(grpo.minTestAccSampled.mean).toBeCloseTo(0.2, 12);
  });

  it('eval curves: the start at x = 0, then every logged evaluation, with a CI band', () => {
    const c = evalCurve(cells, ['grpo'], 'testAcc');
    const pts = c.series[0].points;
    expect(pts.map((p) => p.x)).toEqual([0, 2, 4]);
    expect(pts[0].mean).toBeCloseTo(0.4, 12);
    expect(pts[1].mean).toBeCloseTo(0.62, 12);
    const h = (4.303 * 0.1) / Math.sqrt(3);
    expect(pts[2].hi - pts[2].mean).toBeCloseTo(h, 10);
    expect(pts[2].mean - pts[2].lo).toBeCloseTo(h, 10);
  });

  it('train curves: smoothed per seed (nulls skipped), then averaged', () => {
    expect(smooth([1, null, 3, 5], 1)).toEqual([1, 2, 4, 4]);
    expect(smooth([null, null], 1)).toEqual([null, null]);
    expect(smooth([1, 2, 3], 0)).toEqual([1, 2, 3]);
    const c = trainCurve(cells, ['scope'], 'rewardMean', 0);
    // seeds 1 and 2: iter * seed, iteration 3 missing
    expect(c.series[0].points.map((p) => [p.x, p.mean])).toEqual([
      [1, 1.5],
      [2, 3],
      [4, 6],
    ]);
    // a metric no cell has leaves no series (and so no line in the chart)
    expect(trainCurve(cells, ['grpo'], 'salvageRate', 1).series).toEqual([]);
  });

  it('markdown: a row per algorithm, n/a for absent values', () => {
    const identity: CompareIdentity = {
      task: 'add',
      config: { ...DEFAULT_RL },
      checkpointSha256: 'x',
    };
    const rows = aggregate(cells, ['grpo', 'scope']);
    const md = renderMarkdown(
      {
        kind: 'scope-lab/compare',
        version: 1,
        identity,
        algos: ['grpo', 'scope'],
        seeds: [1, 2, 3],
        overrides: { lr: 1e-5 },
        provenance: {
          command: 'npm run compare -- --task add',
          commit: 'abc',
          machine: { cores: 2, cpuModel: 'cpu', platform: 'linux-x64', node: 'v20' },
          jobs: 2,
          shard: null,
          date: 'today',
        },
        rows,
      },
      [evalCurve(cells, ['grpo'], 'testAcc')],
    );
    expect(md).toMatch(/\| grpo \| 3 \| 0\.600 ± 0\.248 \|/);
    expect(md).toMatch(/\| scope \| 2 \| 0\.850 ± 0\.635 \|/);
    // grpo: no salvage rate; forgetting 0.1, 0.2, 0.3 (end - start greedy); wall 10,20,30 s
    expect(md).toMatch(/\| n\/a \| \+0\.200 ± 0\.248 \| 20 ± 25 \|/);
    expect(md).not.toMatch(/Edge of competence|Pre-registered/); // no edge evaluation, no scenario
    expect(md).toContain('![testAcc](curves/testAcc.svg)');
    expect(md).toContain('overrides: lr=0.00001');
  });
});

describe('cells and shards', () => {
  it('parses algorithm lists and shard specs, with clear errors', () => {
    expect(parseAlgos('scope, grpo,scope')).toEqual(['scope', 'grpo']);
    expect(() => parseAlgos('grpo,ppo')).toThrow(/unknown algo 'ppo'/);
    expect(() => parseAlgos(',')).toThrow(/empty/);
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['0/2', '3/2', '1/0', '2', 'a/b', '1/2/3', '-1/2'])
      expect(() => parseShard(bad), bad).toThrow(/--shard must be i\/n/);
  });

  it('the n shards hold every cell exactly once, balanced, whatever the --algos order', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray([...ALGOS], { minLength: 1 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 12 }),
        (algos, seeds, n) => {
          const all = cellList(algos, seeds);
          const shards = Array.from({ length: n }, (_, i) => shardCells(all, { index: i + 1, count: n }));
          const ids = shards.flat().map(cellId);
          expect(ids.length).toBe(algos.length * seeds);
          expect(new Set(ids).size).toBe(ids.length);
          const sizes = shards.map((s) => s.length);
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
          // the same share however the list was spelled
          const reversed = cellList([...algos].reverse(), seeds);
          expect(shardCells(reversed, { index: 1, count: n }).map(cellId)).toEqual(shards[0].map(cellId));
        },
      ),
    );
  });

  it('identity mismatches name what differs', () => {
    const a: CompareIdentity = { task: 'add', config: { ...DEFAULT_RL }, checkpointSha256: 'aa' };
    expect(identityMismatch(a, { ...a })).toBeNull();
    expect(identityMismatch(a, { ...a, task: 'arith' })).toBe('task (add vs arith)');
    expect(identityMismatch(a, { ...a, config: { ...a.config, lr: 1e-3 } })).toBe(
      'config lr (0.00002 vs 0.001)',
    );
    expect(identityMismatch(a, { ...a, checkpointSha256: 'bb' })).toMatch(/starting checkpoint/);
  });
});

describe('SVG charts', () => {
  it('nice ticks cover the range with a 1-2-5 step', () => {
    expect(niceTicks(0, 1)).toEqual({ ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], step: 0.2 });
    expect(niceTicks(0.13, 0.87).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 200, 6)).toEqual({ ticks: [0, 50, 100, 150, 200], step: 50 });
    expect(niceTicks(3, 3).ticks[0]).toBeLessThan(3); // a flat line still gets a range
  });

  it('clips bands to the metric range and keeps iteration ticks whole', () => {
    expect(niceTicks(0, 2, 6, 1)).toEqual({ ticks: [0, 1, 2], step: 1 });
    const svg = lineChartSvg({
      title: 't',
      xLabel: 'iteration',
      yLabel: 'testAcc',
      yMin: 0,
      yMax: 1,
      xMinStep: 1,
      series: [
        {
          name: 'grpo',
          color: '#111111',
          points: [
            { x: 0, y: 0.5, lo: -5, hi: 5 },
            { x: 2, y: 0.6, lo: 0.2, hi: 1.7 },
          ],
        },
      ],
    });
    expect(svg).toContain('>1.0</text>');
    expect(svg).toContain('>0.0</text>');
    const yTicks = [...svg.matchAll(/text-anchor="end">([^<]*)</g)].map((m) => m[1]);
    expect(yTicks).toEqual(['0.0', '0.2', '0.4', '0.6', '0.8', '1.0']);
    const xTicks = [...svg.matchAll(/text-anchor="middle">([^<]*)</g)].map((m) => m[1]);
    expect(xTicks).toEqual(['0', '1', '2', 'iteration', 'testAcc']); // x ticks, then the axis labels
  });

  it('draws axes, ticks, one line and band per series, a legend and an escaped title', () => {
    const svg = lineChartSvg({
      title: 'add: a<b & c',
      xLabel: 'iteration',
      yLabel: 'testAcc',
      series: [
        {
          name: 'grpo',
          color: '#111111',
          points: [
            { x: 0, y: 0.5, lo: 0.4, hi: 0.6 },
            { x: 10, y: 0.7, lo: 0.6, hi: 0.8 },
          ],
        },
        { name: 'scope', color: '#222222', points: [{ x: 0, y: 0.5 }] },
      ],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('add: a&lt;b &amp; c');
    expect(svg.match(/<polygon /g)?.length).toBe(1); // the single-point series has no band
    expect(svg.match(/<path d="M[^"]*" fill="none" stroke="#\d+" stroke-width/g)?.length).toBe(2);
    expect(svg).toMatch(/>grpo<\/text>/);
    expect(svg).toMatch(/>scope<\/text>/);
    expect(svg).toMatch(/>iteration<\/text>/);
    expect(svg).toMatch(/>0\.8<\/text>/); // a y tick label
    expect(svg).not.toMatch(/NaN|undefined/);
  });
});

// ---------------------------------------------------------------------------------------------------
// The real CLI on a tiny config: 2 algorithms x 2 seeds, 2 iterations each.

const TINY = [
  ...['--task', 'add', '--algos', 'grpo,scope', '--seeds', '2', '--iters', '2'],
  ...['--set', 'evalN=16', '--set', 'evalEvery=1', '--set', 'promptsPerIter=2', '--set', 'groupSize=2'],
  // No warm-up and a larger step, so two iterations move the numbers and the seeds differ.
  ...['--set', 'warmupIters=0', '--set', 'lr=0.0001'],
];

function compare(args: string[]) {
  const r = spawnSync('npx', ['tsx', 'scripts/compare.ts', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.replace(/npm warn.*\n/g, '') };
}

function compareAsync(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn('npx', ['tsx', 'scripts/compare.ts', ...args], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.on('exit', (code) => resolve({ code, stdout }));
  });
}

type Table = { rows: Record<string, unknown>[]; seeds: number[]; algos: string[]; sources?: unknown[] };
const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
/** The numbers of a table, without wall times (which depend on the machine's load). */
function numbers(dir: string) {
  const t = readJson(path.join(dir, 'table.json')) as Table;
  return t.rows.map(({ wallSeconds: _w, secondsPerIter: _s, ...rest }) => rest);
}

describe('compare CLI', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'scope-compare-'));
  const full = path.join(root, 'full');
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('rejects bad options with a one-line message and a non-zero exit', () => {
    const cases: [string[], RegExp][] = [
      [['--task', 'add', '--algos', 'grpo,ppo'], /unknown algo 'ppo'/],
      [['--task', 'add', '--shard', '3/2'], /--shard must be i\/n/],
      [['--task', 'add', '--set', 'seed=3'], /--set seed: use --seeds/],
      [['--task', 'add', '--algos', 'rrpo', '--set', 'groupSize=3'], /G must be even/],
      [['--merge', path.join(root, 'nowhere'), '--out', path.join(root, 'm')], /not a compare output/],
      [['--task', 'add', '--checkpoint', path.join(root, 'nowhere')], /no starting checkpoint file/],
      [['--scenario', 'nope'], /unknown scenario 'nope' \(expected one of: sharpen, edge\)/],
      [['--scenario', 'edge', '--task', 'arith'], /scenario 'edge' runs on add, not on task 'arith'/],
    ];
    for (const [args, msg] of cases) {
      const r = compare(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')[0]).toMatch(/^error: /);
      expect(r.stderr).toMatch(msg);
    }
  });

  it('runs every cell and writes the table, curves and charts', () => {
    const r = compare([...TINY, '--jobs', '2', '--out', full]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/4 cells, 4 to run, jobs 2/);
    const t = readJson(path.join(full, 'table.json')) as Table;
    expect(t.algos).toEqual(['grpo', 'scope']);
    expect(t.rows.map((row) => row.seeds)).toEqual([
      [1, 2],
      [1, 2],
    ]);
    const provenance = (t as unknown as { provenance: Record<string, unknown> }).provenance;
    expect(provenance.command).toMatch(/^npm run compare -- --task add --algos grpo,scope/);
    expect(provenance.commit).toMatch(/^([0-9a-f]{40}(-dirty)?|unknown)$/);
    // the tiny config really trains: end accuracies move off the start and differ between seeds
    const sampled = t.rows.map(
      (row) => (row.end as Record<string, { values: number[] }>).testAccSampled.values,
    );
    expect(sampled.some(([a, b]) => a !== b)).toBe(true);
    const curves = readJson(path.join(full, 'curves.json')) as { metric: string; series: unknown[] }[];
    expect(curves.find((c) => c.metric === 'salvageRate')?.series).toHaveLength(1); // scope only
    for (const m of ['testAccSampled', 'rewardMean', 'salvageRate'])
      expect(readFileSync(path.join(full, 'curves', `${m}.svg`), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
    expect(readFileSync(path.join(full, 'table.md'), 'utf8')).toMatch(/\| scope \| 2 \|/);
    // The first two cells evaluated the start; the next two reused it (numbers unchanged: see the
    // shard test below, whose cells reuse in another pattern, and tests/cli.test.ts).
    expect(existsSync(path.join(full, 'start-eval.json'))).toBe(true);
    const reused = ['grpo-s1', 'grpo-s2', 'scope-s1', 'scope-s2'].filter((c) =>
      /\(reused from .*start-eval\.json\)/.test(
        readFileSync(path.join(full, 'cells', c, 'train.log'), 'utf8'),
      ),
    );
    expect(reused).toEqual(['scope-s1', 'scope-s2']);
  });

  it('a restart skips finished cells and reruns an unfinished one from scratch', () => {
    const kept = path.join(full, 'cells', 'grpo-s1', 'summary.json');
    const mtime = statSync(kept).mtimeMs;
    const before = numbers(full);
    // scope-s2 "crashed": no summary, a stale partial file left behind
    const crashed = path.join(full, 'cells', 'scope-s2');
    unlinkSync(path.join(crashed, 'summary.json'));
    writeFileSync(path.join(crashed, 'partial.tmp'), 'half a run');
    const r = compare([...TINY, '--jobs', '2', '--out', full]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/4 cells, 1 to run/);
    expect(r.stdout).toMatch(/skipped 3 finished cell\(s\): grpo-s1 grpo-s2 scope-s1/);
    expect(r.stdout).toMatch(/cell scope-s2 done/);
    expect(statSync(kept).mtimeMs).toBe(mtime);
    expect(existsSync(path.join(crashed, 'summary.json'))).toBe(true);
    expect(existsSync(path.join(crashed, 'partial.tmp'))).toBe(false);
    expect(numbers(full)).toEqual(before); // runs are deterministic per seed
  });

  it('refuses to mix configs in one directory', () => {
    const r = compare([...TINY, '--set', 'lr=0.001', '--out', full]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/holds a comparison with a different config lr \(0\.0001 vs 0\.001\)/);
  });

  it('--shard 1/2 + --shard 2/2, merged, equal the unsharded table', async () => {
    const shards = [1, 2].map((i) => path.join(root, `shard${i}`));
    const runs = await Promise.all(
      shards.map((dir, i) => compareAsync([...TINY, '--shard', `${i + 1}/2`, '--jobs', '1', '--out', dir])),
    );
    expect(runs.map((r) => r.code)).toEqual([0, 0]);
    expect(runs.map((r) => r.stdout.match(/(\d) cells, \d to run/)?.[1])).toEqual(['2', '2']);

    const half = compare(['--merge', shards[0], '--out', path.join(root, 'half')]);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/2 cell\(s\) missing/);

    // One method whose cells are all there merges on its own (--algos); an unknown one is refused.
    const scopeOnly = path.join(root, 'scope-only');
    const one = compare(['--merge', ...shards, '--algos', 'scope', '--out', scopeOnly]);
    expect(one.code, one.stderr).toBe(0);
    expect((readJson(path.join(scopeOnly, 'table.json')) as Table).algos).toEqual(['scope']);
    expect(numbers(scopeOnly)).toEqual(numbers(full).filter((r) => r.algo === 'scope'));
    const unknown = compare(['--merge', ...shards, '--algos', 'luffy', '--out', path.join(root, 'u')]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/'luffy' is in none of the merged directories \(they hold grpo, scope\)/);

    const merged = path.join(root, 'merged');
    const r = compare(['--merge', ...shards, '--out', merged]);
    expect(r.code, r.stderr).toBe(0);
    expect(numbers(merged)).toEqual(numbers(full));
    expect(readJson(path.join(merged, 'curves.json'))).toEqual(readJson(path.join(full, 'curves.json')));
    expect((readJson(path.join(merged, 'table.json')) as Table).sources).toHaveLength(2);

    // shards of another config are refused
    const other = path.join(root, 'other');
    const cfg = readJson(path.join(shards[0], 'compare.json'));
    cfg.identity.config.lr = 0.001;
    mkdirSync(other);
    writeFileSync(path.join(other, 'compare.json'), JSON.stringify(cfg));
    const bad = compare(['--merge', shards[0], other, '--out', path.join(root, 'bad')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/differs from .* in config lr \(0\.0001 vs 0\.001\)/);
  });

  it('--scenario edge: edge evaluation at start and end, forgetting, pass@k chart and the hypotheses', () => {
    const dir = path.join(root, 'edge');
    const r = compare([
      ...['--scenario', 'edge', '--algos', 'grpo,scope', '--seeds', '2', '--iters', '1', '--jobs', '2'],
      ...['--set', 'edgeEvalN=6', '--set', 'evalN=8', '--set', 'promptsPerIter=2', '--set', 'groupSize=2'],
      ...['--out', dir],
    ]);
    expect(r.code, r.stderr).toBe(0);
    const t = readJson(path.join(dir, 'table.json')) as Table & {
      scenario: string;
      identity: { config: Record<string, unknown> };
      paired: { metric: string; seeds: number[]; diffs: number[]; hypothesis: { claim: string } }[];
    };
    expect(t.scenario).toBe('edge');
    expect(t.identity.config).toMatchObject({ trainSplit: 'edge-train', edgeEvalN: 6, promptsPerIter: 2 });
    const cell = readJson(path.join(dir, 'cells', 'scope-s1', 'summary.json'));
    expect(cell.edge.start.n).toBe(6);
    expect(cell.edge.end.samples).toBe(64);
    expect(cell.forgetting).toBeCloseTo(cell.end.testAcc - cell.start.testAcc, 12);
    expect(cell.end.edgePassAt1).toBe(cell.edge.end.passAtK['1']);
    // H1-H3 compare scope with grpo (both here); H4 and H5 need algorithms that did not run.
    expect(t.paired.map((p) => p.hypothesis.claim.slice(0, 2))).toEqual(['H1', 'H2', 'H3']);
    expect(t.paired[0].seeds).toEqual([1, 2]);
    const md = readFileSync(path.join(dir, 'table.md'), 'utf8');
    expect(md).toMatch(/## add \(scenario edge\)/);
    expect(md).toMatch(/Pre-registered hypotheses/);
    expect(readFileSync(path.join(dir, 'curves', 'passAtK.svg'), 'utf8')).toContain('<svg');
  });
});
