/**
 * Evaluation on fixed, seeded problem sets (the same sets for every run with the same seed):
 * greedy accuracy on test and ood, sampled pass@1 / pass@8 / diversity at the training temperature,
 * where failed rollouts first go wrong, and, given a PRM, how often it finds that first error.
 */
import type { PolicyModel, PrmModel } from './agents';
import { parseCompletion } from './format';
import { correctPaths, diversity, mean, passAtK, rocAuc, std } from './metrics';
import { firstErrorFromPrm } from './rl/math';
import { Rng } from './rng';
import type { Problem, Split, Task } from './tasks/types';

export interface EvalOptions {
  /** Problems per split. */
  n: number;
  /** Seed of the evaluation sets (not of the model). */
  seed: number;
  temperature: number;
  topP: number;
  /** Samples per test problem for the sampled metrics. */
  samples: number;
  /** Sequences per decode batch. */
  batchSize: number;
  /** PRM threshold for its first error. */
  tau: number;
  /** Problems of the edge evaluation (edge-test, edge-ood; see `evaluateEdge`); 0: none. */
  edgeN: number;
}

export const DEFAULT_EVAL: EvalOptions = {
  n: 200,
  seed: 1234,
  temperature: 1,
  topP: 1,
  samples: 8,
  batchSize: 256,
  tau: 0.5,
  edgeN: 0,
};

/** k of the edge evaluation's pass@k; its samples per problem are the largest k. */
export const PASS_KS = [1, 4, 16, 64] as const;
export const EDGE_SAMPLES = 64;
/** GRPO's group size that "all-wrong groups" refers to (the default G). */
export const EDGE_GROUP = 8;

/**
 * The edge evaluation (issue 17): held-out carry-chain problems (edge-test), greedy and EDGE_SAMPLES
 * samples each, and the longer chains (edge-ood), greedy.
 */
export interface EdgeEval {
  n: number;
  samples: number;
  /** Greedy accuracy on edge-test. */
  testAcc: number;
  /** Greedy accuracy on edge-ood. */
  oodAcc: number;
  /** Unbiased pass@k on edge-test (pass@1 = sampled accuracy), k in PASS_KS. */
  passAtK: Record<string, number>;
  /** 95% CI half-width of pass@1 over the problems (normal approximation, 1.96 * s / sqrt(n)). */
  passAt1Ci95: number;
  /** Share of EDGE_GROUP-sample groups (each problem's samples cut in consecutive groups) all wrong. */
  allWrongGroups: number;
  /** Share of those groups with all-equal rewards (all wrong or all right: no GRPO signal). */
  zeroSignalGroups: number;
  /** Distinct step sequences / samples per EDGE_GROUP-sample group, averaged. */
  diversity: number;
  /** Failed greedy / sampled rollouts by 1-based step of the first oracle error ('0': no invalid step,
   *  i.e. cut off or malformed). Counts. */
  greedyFirstError: Record<string, number>;
  sampledFirstError: Record<string, number>;
}

export interface EvalResult {
  testAcc: number;
  testAccSampled: number;
  oodAcc: number;
  passAt8: number;
  diversity: number;
  correctPaths: number;
  /** Share of failed sampled test rollouts whose PRM first error equals the oracle's (null without a PRM). */
  prmFirstErrorAcc: number | null;
  /** PRM step AUC against oracle labels on the sampled test rollouts (null without a PRM). */
  prmStepAuc: number | null;
  /** Share of failed sampled test rollouts whose first oracle error is at step 2 or later. */
  failedFirstErrorAtLeast2: number;
  /** Same, for failed greedy test rollouts. */
  greedyFailedFirstErrorAtLeast2: number;
  /** The edge evaluation, when asked for (`edgeN` > 0). */
  edge?: EdgeEval;
}

/** The fixed evaluation problems of a split. */
export function evalSet(task: Task, split: Split, n: number, seed: number): Problem[] {
  const rng = new Rng(`eval/${task.name}/${split}/${seed}`);
  return Array.from({ length: n }, () => task.sample(rng, split));
}

/** 1-based index of the first invalid step, or 0 when every step is valid. */
export function oracleFirstError(task: Task, problem: Problem, completion: string): number {
  const labels = task.checkSteps(problem, parseCompletion(completion).steps);
  const k = labels.indexOf(false);
  return k < 0 ? 0 : k + 1;
}

async function rollouts(
  policy: PolicyModel,
  problems: Problem[],
  perProblem: number,
  opts: EvalOptions,
  greedy: boolean,
  rng: Rng,
): Promise<string[]> {
  const prefixes = problems.flatMap((p) => Array.from({ length: perProblem }, () => ({ prompt: p.prompt })));
  const gen = await policy.generate(prefixes, {
    temperature: opts.temperature,
    topP: opts.topP,
    greedy,
    rng,
    maxBatch: opts.batchSize,
  });
  return gen.texts;
}

/** Counts of the first-error step of the failed completions (see EdgeEval). */
export function firstErrorHistogram(
  task: Task,
  problems: readonly Problem[],
  completions: readonly string[],
  per: number,
): Record<string, number> {
  const h: Record<string, number> = {};
  completions.forEach((c, i) => {
    const p = problems[Math.floor(i / per)];
    if (task.reward(p, c) === 1) return;
    const k = String(oracleFirstError(task, p, c));
    h[k] = (h[k] ?? 0) + 1;
  });
  return h;
}

/**
 * The edge metrics from finished rollouts: `sampled` holds `samples` completions per problem, in
 * problem order; `greedyTest` / `greedyOod` one each. Pure (tests feed it hand-made completions).
 */
export function edgeStats(
  task: Task,
  test: readonly Problem[],
  ood: readonly Problem[],
  greedyTest: readonly string[],
  greedyOod: readonly string[],
  sampled: readonly string[],
  samples: number,
): EdgeEval {
  const rewards = sampled.map((c, i) => task.reward(test[Math.floor(i / samples)], c));
  const perProblem = test.map((_, i) => rewards.slice(i * samples, (i + 1) * samples));
  const pass: Record<string, number> = {};
  for (const k of PASS_KS)
    if (k <= samples)
      pass[k] = mean(perProblem.map((r) => passAtK(samples, r.filter((x) => x === 1).length, k)));
  const p1 = perProblem.map((r) => mean(r));
  const groups: { r: number[]; keys: string[] }[] = [];
  for (let i = 0; i < test.length; i++)
    for (let g = 0; g + EDGE_GROUP <= samples; g += EDGE_GROUP) {
      const at = i * samples + g;
      groups.push({
        r: rewards.slice(at, at + EDGE_GROUP),
        keys: sampled.slice(at, at + EDGE_GROUP).map((c) => parseCompletion(c).steps.join(';')),
      });
    }
  return {
    n: test.length,
    samples,
    testAcc: mean(test.map((p, i) => task.reward(p, greedyTest[i]))),
    oodAcc: mean(ood.map((p, i) => task.reward(p, greedyOod[i]))),
    passAtK: pass,
    passAt1Ci95: test.length > 1 ? (1.96 * std(p1, 1)) / Math.sqrt(test.length) : Number.NaN,
    allWrongGroups: mean(groups.map((g) => (g.r.every((x) => x === 0) ? 1 : 0))),
    zeroSignalGroups: mean(groups.map((g) => (g.r.every((x) => x === g.r[0]) ? 1 : 0))),
    diversity: diversity(groups.map((g) => g.keys)),
    greedyFirstError: firstErrorHistogram(task, test, greedyTest, 1),
    sampledFirstError: firstErrorHistogram(task, test, sampled, samples),
  };
}

/** The edge evaluation as printable lines (npm run eval -- --scenario edge). */
export function formatEdge(e: EdgeEval): string[] {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const hist = (h: Record<string, number>) => {
    const total = Object.values(h).reduce((a, b) => a + b, 0);
    return Object.keys(h)
      .sort((a, b) => Number(a) - Number(b))
      .map((k) => `${k === '0' ? 'none (cut off)' : `step ${k}`}: ${h[k]} (${pct(h[k] / total)})`)
      .join(', ');
  };
  const row = (label: string, value: string) => `  ${label.padEnd(33)}${value}`;
  return [
    `edge evaluation: ${e.n} held-out carry-chain problems (edge-test), ${e.samples} samples each; edge-ood greedy on ${e.n}`,
    row('greedy accuracy', pct(e.testAcc)),
    row('sampled accuracy (pass@1)', `${pct(e.passAtK['1'])} +- ${pct(e.passAt1Ci95)} (95% CI)`),
    row(
      'pass@k',
      Object.entries(e.passAtK)
        .map(([k, v]) => `@${k} ${pct(v)}`)
        .join('  '),
    ),
    row(
      `all-wrong ${EDGE_GROUP}-sample groups`,
      `${pct(e.allWrongGroups)} (all-equal: ${pct(e.zeroSignalGroups)})`,
    ),
    row(`diversity (${EDGE_GROUP}-sample groups)`, e.diversity.toFixed(3)),
    row('edge-ood greedy accuracy', pct(e.oodAcc)),
    row('first error, greedy failures', hist(e.greedyFirstError)),
    row('first error, sampled failures', hist(e.sampledFirstError)),
  ];
}

/** Decode and score the edge evaluation of `opts.edgeN` problems (task with edge splits only). */
export async function evaluateEdge(
  task: Task,
  policy: PolicyModel,
  options: Partial<EvalOptions> = {},
): Promise<EdgeEval> {
  const opts = { ...DEFAULT_EVAL, ...options };
  const rng = new Rng(`eval-edge-sampling/${opts.seed}`);
  const test = evalSet(task, 'edge-test', opts.edgeN, opts.seed);
  const ood = evalSet(task, 'edge-ood', opts.edgeN, opts.seed);
  const greedyTest = await rollouts(policy, test, 1, opts, true, rng);
  const greedyOod = await rollouts(policy, ood, 1, opts, true, rng);
  const sampled = await rollouts(policy, test, EDGE_SAMPLES, opts, false, rng);
  return edgeStats(task, test, ood, greedyTest, greedyOod, sampled, EDGE_SAMPLES);
}

export async function evaluatePolicy(
  task: Task,
  policy: PolicyModel,
  prm: PrmModel | null,
  options: Partial<EvalOptions> = {},
): Promise<EvalResult> {
  const opts = { ...DEFAULT_EVAL, ...options };
  const rng = new Rng(`eval-sampling/${opts.seed}`);
  const test = evalSet(task, 'test', opts.n, opts.seed);
  const ood = evalSet(task, 'ood', opts.n, opts.seed);

  const greedyTest = await rollouts(policy, test, 1, opts, true, rng);
  const greedyOod = await rollouts(policy, ood, 1, opts, true, rng);
  const sampled = await rollouts(policy, test, opts.samples, opts, false, rng);

  const k = opts.samples;
  const groups = test.map((p, i) =>
    sampled.slice(i * k, (i + 1) * k).map((c) => ({ c, r: task.reward(p, c) })),
  );
  const stepKey = (c: string) => parseCompletion(c).steps.join(';');

  const failedFirst = (problems: Problem[], completions: string[], per: number) => {
    const ks = completions
      .map((c, i) => ({ p: problems[Math.floor(i / per)], c }))
      .filter(({ p, c }) => task.reward(p, c) === 0)
      .map(({ p, c }) => oracleFirstError(task, p, c))
      .filter((x) => x > 0); // a failure with no invalid step was cut off, not wrong
    return ks.length === 0 ? 1 : ks.filter((x) => x >= 2).length / ks.length;
  };

  let prmFirstErrorAcc: number | null = null;
  let prmStepAuc: number | null = null;
  if (prm) {
    const items = groups.flatMap((g, i) =>
      g.map(({ c, r }) => ({ prompt: test[i].prompt, completion: c, r, p: test[i] })),
    );
    const scores = await prm.scoreSteps(items, opts.batchSize);
    const hits: number[] = [];
    const allScores: number[] = [];
    const allLabels: boolean[] = [];
    items.forEach((it, j) => {
      const labels = task.checkSteps(it.p, parseCompletion(it.completion).steps);
      allScores.push(...scores[j]);
      allLabels.push(...labels.slice(0, scores[j].length));
      const oracle = labels.indexOf(false) + 1;
      if (it.r === 0 && oracle > 0) hits.push(firstErrorFromPrm(scores[j], opts.tau) === oracle ? 1 : 0);
    });
    prmFirstErrorAcc = hits.length ? mean(hits) : null;
    prmStepAuc = allLabels.some((l) => l) && allLabels.some((l) => !l) ? rocAuc(allScores, allLabels) : null;
  }

  return {
    testAcc: mean(test.map((p, i) => task.reward(p, greedyTest[i]))),
    testAccSampled: mean(groups.flatMap((g) => g.map((x) => x.r))),
    oodAcc: mean(ood.map((p, i) => task.reward(p, greedyOod[i]))),
    passAt8: mean(
      groups.map((g) => passAtK(g.length, g.filter((x) => x.r === 1).length, Math.min(8, g.length))),
    ),
    diversity: diversity(groups.map((g) => g.map((x) => stepKey(x.c)))),
    correctPaths: correctPaths(groups.map((g) => g.map((x) => ({ key: stepKey(x.c), correct: x.r === 1 })))),
    prmFirstErrorAcc,
    prmStepAuc,
    failedFirstErrorAtLeast2: failedFirst(test, sampled, k),
    greedyFailedFirstErrorAtLeast2: failedFirst(test, greedyTest, 1),
    ...(opts.edgeN > 0 ? { edge: await evaluateEdge(task, policy, opts) } : {}),
  };
}
