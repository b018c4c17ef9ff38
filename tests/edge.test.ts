/**
 * The edge-of-competence scenario (issue 17): add's carry-chain splits, the scenario presets and the
 * trainer's problem stream (trainSplit / trainMix).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RL, parseRlConfig } from '../src/core/rl/config';
import type { PolicyService, UpdateStats } from '../src/core/rl/services';
import { Trainer } from '../src/core/rl/trainer';
import { hashString, Rng } from '../src/core/rng';
import { SCENARIO_NAMES, SCENARIOS, scenarioConfig } from '../src/core/scenarios';
import { addEdgeSplitOf, addSplitOf } from '../src/core/tasks/add';
import { addTask, arithTask, EDGE_SPLITS, type Split, TASK_SPLITS } from '../src/core/tasks/index';
import { parseEvalArgs, parseTrainArgs } from '../src/node/options';

/** Independent carry-chain length: written out digit by digit from the two numbers, not from add.ts. */
function chainOf(prompt: string): number {
  let [a, b] = prompt.split('+').map(Number);
  let carry = 0;
  let run = 0;
  let best = 0;
  while (a > 0 || b > 0) {
    const s = (a % 10) + (b % 10) + carry;
    carry = s >= 10 ? 1 : 0;
    run = carry ? run + 1 : 0;
    best = Math.max(best, run);
    a = Math.floor(a / 10);
    b = Math.floor(b / 10);
  }
  return best;
}

function draw(split: Split, n: number, seed = 'edge-test'): string[] {
  const rng = new Rng(`${seed}/${split}`);
  return Array.from({ length: n }, () => {
    const p = addTask.sample(rng, split);
    expect(p.answer).toBe(
      String(
        p.prompt
          .split('+')
          .map(Number)
          .reduce((x, y) => x + y),
      ),
    );
    return p.prompt;
  });
}

describe('add edge splits', () => {
  const N = 1500;
  const train = draw('edge-train', N);
  const test = draw('edge-test', N);
  const ood = draw('edge-ood', 400);

  it('every edge-train and edge-test problem has a longest carry chain of exactly 3 columns', () => {
    for (const p of [...train, ...test]) expect(chainOf(p), p).toBe(3);
  });

  it('every edge-ood problem carries in all 4 columns', () => {
    for (const p of ood) {
      expect(chainOf(p), p).toBe(4);
      expect(
        String(
          p
            .split('+')
            .map(Number)
            .reduce((x, y) => x + y),
        ),
      ).toHaveLength(5);
    }
  });

  it('edge-train and edge-test are disjoint (the held-out hash decides), and both are large', () => {
    const tr = new Set(train);
    const te = new Set(test);
    for (const p of te) expect(tr.has(p), p).toBe(false);
    for (const p of te) expect(hashString(p) % 10).toBe(0);
    for (const p of tr) expect(hashString(p) % 10).not.toBe(0);
    // Sampling with replacement from a large pool: few repeats.
    expect(tr.size).toBeGreaterThan(0.95 * N);
    expect(te.size).toBeGreaterThan(0.9 * N);
  });

  it('ordinary train and test problems are in no edge split', () => {
    for (const p of [...draw('test', 300), ...draw('train', 300)]) expect(addEdgeSplitOf(p)).toBeNull();
  });

  it('edge problems are never ordinary train or test problems (they are all in the ood structure)', () => {
    for (const p of [...train, ...test, ...ood]) expect(addSplitOf(p)).toBe('ood');
  });

  it('the edge splits are add-only: arith rejects them at once, and the config refuses them for arith', () => {
    expect(TASK_SPLITS.add).toEqual(expect.arrayContaining([...EDGE_SPLITS]));
    expect(TASK_SPLITS.arith).not.toContain('edge-train');
    expect(() => arithTask.sample(new Rng(1), 'edge-train')).toThrow(/arith has no split 'edge-train'/);
    expect(() => parseRlConfig({ task: 'arith', trainSplit: 'edge-train' })).toThrow(/trainSplit/);
    expect(() => parseRlConfig({ task: 'arith', edgeEvalN: 10 })).toThrow(/edgeEvalN/);
  });
});

describe('scenarios', () => {
  it('names sharpen and edge, each with a what-to-expect line', () => {
    expect([...SCENARIO_NAMES]).toEqual(['sharpen', 'edge']);
    for (const n of SCENARIO_NAMES) {
      expect(SCENARIOS[n].name).toBe(n);
      expect(SCENARIOS[n].whatToExpect.length).toBeGreaterThan(40);
    }
  });

  it("edge's what-to-expect quotes the recorded results (start and the pre-registered runs' end)", () => {
    // The page shows this text; every number in it must be one the recorded table says.
    const table = JSON.parse(readFileSync('results/edge/table.json', 'utf8')) as {
      rows: {
        algo: string;
        edgeStart: Record<string, { mean: number }>;
        edgeEnd: Record<string, { mean: number }>;
      }[];
    };
    const row = (algo: string) => table.rows.find((r) => r.algo === algo)!;
    const pct = (x: number, digits: number) => `${(100 * x).toFixed(digits)}%`;
    const text = SCENARIOS.edge.whatToExpect;
    const start = row('grpo').edgeStart;
    // "the most of any method": LUFFY's pass@16 and pass@64 are the largest of the eight.
    for (const k of ['edgePassAt16', 'edgePassAt64'])
      expect(Math.max(...table.rows.map((r) => r.edgeEnd[k].mean))).toBe(row('luffy').edgeEnd[k].mean);
    for (const quoted of [
      `${pct(start.edgeTestAcc.mean, 1)} greedy`,
      `${pct(start.edgePassAt1.mean, 1)} sampled`,
      `pass@16 ${pct(start.edgePassAt16.mean, 0)}`,
      `${pct(start.edgeAllWrongGroups.mean, 0)} of 8-sample groups are all wrong`,
      `to ${pct(row('grpo').edgeEnd.edgePassAt1.mean, 1)} and ${pct(row('scope').edgeEnd.edgePassAt1.mean, 1)}`,
      `pass@16 to ${pct(row('grpo').edgeEnd.edgePassAt16.mean, 0)} and ${pct(row('scope').edgeEnd.edgePassAt16.mean, 0)}`,
      `pass@16 ${pct(row('luffy').edgeEnd.edgePassAt16.mean, 0)} and pass@64 ${pct(row('luffy').edgeEnd.edgePassAt64.mean, 0)}`,
    ])
      expect(text).toContain(quoted);
  });

  it('sharpen is exactly the shipped defaults', () => {
    expect(scenarioConfig('sharpen')).toEqual(DEFAULT_RL);
    expect(scenarioConfig('sharpen', { task: 'arith' })).toEqual({ ...DEFAULT_RL, task: 'arith' });
  });

  it('edge trains on carry chains, one learning rate for every parameter, with the edge evaluation', () => {
    const c = scenarioConfig('edge', { algo: 'grpo', seed: 3 });
    expect(c.task).toBe('add');
    expect(c.trainSplit).toBe('edge-train');
    expect(c.outputGainLr).toBe(c.lr);
    expect(c.edgeEvalN).toBeGreaterThanOrEqual(1068);
    expect(c.algo).toBe('grpo');
    expect(c.seed).toBe(3);
    // The user's overrides win over the scenario's.
    expect(scenarioConfig('edge', { lr: 1e-5 }).lr).toBe(1e-5);
  });

  it('an unknown name or a task the scenario does not run on is a one-line error naming the choices', () => {
    expect(() => scenarioConfig('nope')).toThrow("unknown scenario 'nope' (expected one of: sharpen, edge)");
    expect(() => scenarioConfig('edge', { task: 'arith' })).toThrow(/runs on add, not on task 'arith'/);
  });
});

describe('trainer problem stream', () => {
  /** A policy service that records nothing but answers update(): enough for sft-control's step. */
  const fake: PolicyService = {
    describe: async () => ({ backend: 'fake', task: 'add', params: 0, step: 0 }),
    generate: async () => ({ texts: [], logps: [] }),
    update: async (): Promise<UpdateStats> => ({
      loss: 0,
      gradNorm: 0,
      clipFraction: 0,
      kl: 0,
      entropy: 0,
      skipped: 0,
    }),
    evaluate: async () => {
      throw new Error('not used');
    },
    checkpoint: async () => ({ manifestJson: '{}', blob: new Uint8Array() }),
    load: async () => {},
    numTensors: async () => 0,
  };

  async function problemsOf(over: Record<string, unknown>): Promise<string[]> {
    const cfg = parseRlConfig({ algo: 'sft-control', promptsPerIter: 16, groupSize: 2, ...over });
    const t = new Trainer(addTask, cfg, fake, null);
    const res = await t.step();
    return res.rollouts.filter((_, i) => i % cfg.groupSize === 0).map((r) => r.problem.prompt);
  }

  it("draws round(P * trainMix) prompts from 'train' and the rest from trainSplit", async () => {
    const ps = await problemsOf({ trainSplit: 'edge-train', trainMix: 0.25 });
    expect(ps).toHaveLength(16);
    expect(ps.slice(0, 4).map(addSplitOf)).toEqual(Array(4).fill('train'));
    expect(ps.slice(4).map(addEdgeSplitOf)).toEqual(Array(12).fill('edge-train'));
  });

  it('with the defaults every prompt is an ordinary train problem, trainMix or not', async () => {
    const a = await problemsOf({});
    expect(a.map(addSplitOf)).toEqual(Array(16).fill('train'));
    expect(await problemsOf({ trainMix: 0.5 })).toEqual(a);
  });
});

describe('--scenario on the command line', () => {
  it('train: presets task and knobs; --set still wins; a bad name lists the names', () => {
    const a = parseTrainArgs(['--scenario', 'edge', '--algo', 'grpo', '--set', 'beta=0']);
    if (!a || !('runtime' in a) || a.runtime !== 'node') throw new Error('expected node train args');
    expect(a.config).toEqual(scenarioConfig('edge', { algo: 'grpo', beta: 0 }));
    expect(a.checkpointDir).toBe(path.join('public', 'checkpoints', 'add'));
    expect(() => parseTrainArgs(['--scenario', 'edgy', '--algo', 'grpo'])).toThrow(
      "unknown scenario 'edgy' (expected one of: sharpen, edge)",
    );
    expect(() => parseTrainArgs(['--scenario', 'edge', '--task', 'arith', '--algo', 'grpo'])).toThrow(
      /runs on add/,
    );
    const configOf = (argv: string[]) => {
      const r = parseTrainArgs(argv);
      return r && 'config' in r ? r.config : null;
    };
    expect(configOf(['--task', 'add', '--algo', 'grpo'])).toEqual(
      configOf(['--scenario', 'sharpen', '--algo', 'grpo']),
    );
    expect(configOf(['--task', 'add', '--algo', 'grpo'])).not.toBeNull();
  });

  it('eval: the scenario sets the edge evaluation and the shipped checkpoint', () => {
    const e = parseEvalArgs(['--scenario', 'edge']);
    expect(e).toMatchObject({ task: 'add', scenario: 'edge', edgeN: SCENARIOS.edge.overrides.edgeEvalN });
    expect(e?.checkpointDir).toBe(path.join('public', 'checkpoints', 'add'));
    expect(parseEvalArgs(['--scenario', 'edge', '--edge-n', '50'])?.edgeN).toBe(50);
    expect(parseEvalArgs(['--task', 'add', '--checkpoint', 'x'])?.edgeN).toBe(0);
    expect(() => parseEvalArgs(['--task', 'add', '--checkpoint', 'x', '--edge-n', '5'])).toThrow(
      /--edge-n needs/,
    );
    expect(() => parseEvalArgs(['--scenario', 'nope'])).toThrow(/expected one of: sharpen, edge/);
  });
});
