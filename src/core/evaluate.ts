/**
 * Evaluation on fixed, seeded problem sets (the same sets for every run with the same seed):
 * greedy accuracy on test and ood, sampled pass@1 / pass@8 / diversity at the training temperature,
 * where failed rollouts first go wrong, and, given a PRM, how often it finds that first error.
 */
import type { PolicyModel, PrmModel } from './agents';
import { parseCompletion } from './format';
import { correctPaths, diversity, mean, passAtK, rocAuc } from './metrics';
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
}

export const DEFAULT_EVAL: EvalOptions = {
  n: 200,
  seed: 1234,
  temperature: 1,
  topP: 1,
  samples: 8,
  batchSize: 256,
  tau: 0.5,
};

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
  };
}
