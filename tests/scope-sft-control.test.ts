/**
 * The token-matched control (issue 17): SCOPE's sampling, first errors and choice, then supervised
 * updates on exactly the teacher steps SCOPE inserts, on the same prefixes, and on nothing else.
 */
import { describe, expect, it } from 'vitest';
import { ANSWER_MARK, isAnswerStep, renderCompletion } from '../src/core/format';
import { ROLE, type UpdateBatch } from '../src/core/rl/batch';
import { ALGOS, parseRlConfig } from '../src/core/rl/config';
import type { GenerateRequest } from '../src/core/rl/services';
import { Trainer } from '../src/core/rl/trainer';
import { Rng } from '../src/core/rng';
import { addTask } from '../src/core/tasks';
import type { Problem } from '../src/core/tasks/types';
import { tokenizerFor } from '../src/core/tokenizer';
import { type LogpScript, ScriptedPolicy } from './support/scripted-services';

/** Behaviour log-probs of -0.1 for every character. */
const constantLogps: LogpScript = (text) => Array.from(text, () => -0.1);

const problemOf = (prompt: string): Problem => ({
  prompt,
  answer: String(
    prompt
      .split('+')
      .map(Number)
      .reduce((a, b) => a + b),
  ),
});

/** Samples: the teacher's step 1, then a wrong step 2 and a wrong answer (first error at 2). The
 *  continuation of a rectified prefix: the teacher's remaining steps. */
function script(req: GenerateRequest): string {
  const p = problemOf(req.prompt);
  const steps = addTask.solve(p);
  if (req.completionPrefix !== undefined) {
    const done = req.completionPrefix.split(/[;.]/).filter((s) => s !== '').length;
    return renderCompletion(steps.slice(done)).slice(0);
  }
  const bad = addTask.corruptStep(new Rng(`bad/${p.prompt}`), p, steps.slice(0, 1));
  return renderCompletion([steps[0], bad, ...(isAnswerStep(bad) ? [] : [`${ANSWER_MARK}0`])]);
}

/** Decoded trained text of each batch row: the characters whose prediction has the given role. */
function tokensWithRole(b: UpdateBatch, role: number): string[] {
  const tok = tokenizerFor(addTask);
  const rows: string[] = [];
  for (let i = 0; i < b.B; i++) {
    const ids: number[] = [];
    for (let t = 0; t < b.T - 1; t++)
      if (b.roles[i * (b.T - 1) + t] === role) ids.push(b.ids[i * b.T + t + 1]);
    rows.push(tok.decode(ids));
  }
  return rows;
}

async function step(algo: string) {
  const cfg = parseRlConfig({ algo, prmMode: 'oracle', promptsPerIter: 3, groupSize: 4, seed: 7 });
  const policy = new ScriptedPolicy(script, constantLogps);
  const t = new Trainer(addTask, cfg, policy, null, new Rng('same-problems'));
  const res = await t.step();
  return { res, batch: policy.updates[0] };
}

describe('scope-sft-control', () => {
  it('is registered', () => {
    expect(ALGOS).toContain('scope-sft-control');
  });

  it('trains exactly the teacher steps SCOPE inserts, on the same prefixes, with plain NLL and nothing else', async () => {
    const scope = await step('scope');
    const ctrl = await step('scope-sft-control');
    const rectified = scope.res.rollouts.filter((r) => r.origin === 'rectified');
    // 3 groups, cap ceil(4/4) = 1 each; every sample failed at step 2.
    expect(rectified).toHaveLength(3);
    expect(ctrl.res.rollouts).toHaveLength(3);
    expect(ctrl.res.metrics.rectifications).toBe(3);
    expect(ctrl.res.metrics.rewardMean).toBe(0); // the policy's own samples all failed
    const key = (prompt: string, prefix: string, step: string) => `${prompt}|${prefix}|${step}`;
    const fromScope = rectified.map((r) =>
      key(r.problem.prompt, r.segments[0].text, r.segments.find((s) => s.role === 'off')?.text ?? ''),
    );
    const fromCtrl = ctrl.res.rollouts.map((r) => {
      expect(r.segments.map((s) => s.role)).toEqual(['masked', 'off']);
      expect(r.advantage).toBe(1);
      return key(r.problem.prompt, r.segments[0].text, r.segments[1].text);
    });
    expect(fromCtrl).toEqual(fromScope);
    // In the batch: the corrected step's characters are the only trained tokens, as supervised 'pg'.
    const pg = tokensWithRole(ctrl.batch, ROLE.pg);
    expect(pg).toEqual(ctrl.res.rollouts.map((r) => r.segments[1].text));
    for (let i = 0; i < ctrl.batch.roles.length; i++) {
      const role = ctrl.batch.roles[i];
      expect([ROLE.masked, ROLE.pg]).toContain(role);
      if (role === ROLE.pg) expect(ctrl.batch.advantages[i]).toBe(1);
    }
    // SCOPE trained the same teacher tokens (as off-policy) plus on-policy tokens around them.
    expect(tokensWithRole(scope.batch, ROLE.off).filter((s) => s !== '')).toEqual(pg);
    expect(tokensWithRole(scope.batch, ROLE.on).join('').length).toBeGreaterThan(0);
  });

  it('an iteration without a rectification trains no token', async () => {
    const cfg = parseRlConfig({
      algo: 'scope-sft-control',
      prmMode: 'oracle',
      promptsPerIter: 2,
      groupSize: 2,
    });
    const right = new ScriptedPolicy((req) => renderCompletion(addTask.solve(problemOf(req.prompt))));
    const res = await new Trainer(addTask, cfg, right, null).step();
    expect(res.metrics.rectifications).toBe(0);
    expect(res.metrics.rewardMean).toBe(1);
    expect(right.updates[0].weights.every((w) => w === 0)).toBe(true);
  });
});
