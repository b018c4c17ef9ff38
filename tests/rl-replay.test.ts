/**
 * Replay: a short run of every method (plus a few non-default knobs) on the shipped `add`
 * checkpoints, on the deterministic wasm backend, must reproduce the recorded metrics (all but
 * timings), a digest of each iteration's rollouts and a digest of the final policy weights exactly.
 * It guards refactors that must not change behaviour (issue 16's module split); a deliberate
 * behaviour change re-records it:
 *
 *   UPDATE_REPLAY=1 npx vitest run tests/rl-replay.test.ts && npx biome format --write tests/fixtures
 *
 * and the commit says what changed the numbers.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PolicyModel } from '../src/core/agents';
import { parseRlConfig, type RlConfig } from '../src/core/rl/config';
import { LocalPolicyService, LocalPrmService } from '../src/core/rl/services';
import { loadPrm, prepareRlPolicy } from '../src/core/rl/setup';
import { type Rollout, Trainer } from '../src/core/rl/trainer';
import { addTask } from '../src/core/tasks';
import { useBackend } from '../src/node/backend';
import { readCheckpoint } from '../src/node/files';

const FIXTURE = 'tests/fixtures/rl-replay.json';
const CHECKPOINTS = 'public/checkpoints/add';
const ITERS = 3;

/**
 * Small batches, no warm-up and a larger lr than the default, so each update moves the policy
 * enough that the next iteration's samples depend on it. One update shard: the recordings predate
 * the shards (src/core/shards.ts) and replay unchanged through them; the `*-2-shards` cases
 * record the default.
 */
const BASE = {
  task: 'add',
  promptsPerIter: 4,
  groupSize: 4,
  lr: 5e-5,
  warmupIters: 0,
  seed: 7,
  updateShards: 1,
};
const CASES: Record<string, Record<string, unknown>> = {
  grpo: { algo: 'grpo' },
  'prm-dense': { algo: 'prm-dense' },
  luffy: { algo: 'luffy' },
  scope: { algo: 'scope' },
  rrpo: { algo: 'rrpo' },
  srpo: { algo: 'srpo' },
  'sft-control': { algo: 'sft-control' },
  // Knobs off their defaults, so the shared update path is replayed in its other branches too.
  'grpo-kl-epochs': {
    algo: 'grpo',
    beta: 0.05,
    innerEpochs: 2,
    lossAgg: 'seq-mean-token-mean',
    scaleRewards: 'batch',
  },
  'scope-oracle-teacher-keep': {
    algo: 'scope',
    prmMode: 'oracle',
    scopeContinuation: 'teacher',
    scopeKeepOriginal: true,
    rectifyCap: 2,
  },
  // SCOPE under its pre-issue-15 rules (oracle veto of invalid kept prefixes, answer-step corrections):
  // its rollouts and weights equal those recorded before the change.
  'scope-old-rules': { algo: 'scope', scopeOracleGuard: true, scopeRectifyAnswerStep: true },
  'prm-dense-oracle-none': { algo: 'prm-dense', prmMode: 'oracle', scaleRewards: 'none' },
  'rrpo-clipped': { algo: 'rrpo', resetClipped: true, lossAgg: 'seq-mean-token-sum-norm' },
  // The default update (two row shards, summed in order), with and without the KL and epochs.
  'scope-2-shards': { algo: 'scope', updateShards: 2 },
  'sft-control-2-shards': { algo: 'sft-control', updateShards: 2 },
  'grpo-kl-epochs-2-shards': { algo: 'grpo', beta: 0.05, innerEpochs: 2, updateShards: 2 },
};

/** FNV-1a (32-bit) over bytes. */
function fnv1a(bytes: Uint8Array, h = 0x811c9dc5): number {
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}
const hex = (h: number) => h.toString(16).padStart(8, '0');

/** Digest of the policy's parameters (name order), over their float32 bytes. */
function weightsDigest(policy: PolicyModel): string {
  let h = 0x811c9dc5;
  for (const name of [...policy.params.keys()].sort()) {
    h = fnv1a(new TextEncoder().encode(name), h);
    const v = policy.params.get(name)!.dataSync() as Float32Array;
    h = fnv1a(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), h);
  }
  return hex(h);
}

/** Digest of what an iteration trained on: each rollout's text, roles, origin, reward, advantage. */
function rolloutsDigest(rollouts: Rollout[]): string {
  const view = rollouts.map((r) => [
    r.group,
    r.origin,
    r.segments.map((s) => [s.role, s.text]),
    r.reward,
    r.advantage,
    r.prmFirstError ?? null,
    r.rectification?.k ?? null,
    r.reset?.k ?? null,
  ]);
  return hex(fnv1a(new TextEncoder().encode(JSON.stringify(view))));
}

interface Recorded {
  metrics: Record<string, unknown>[];
  rollouts: string[];
  weights: string;
}

async function replay(over: Record<string, unknown>): Promise<Recorded> {
  const cfg: RlConfig = parseRlConfig({ ...BASE, ...over });
  const pc = readCheckpoint(CHECKPOINTS, 'policy', 'add');
  const policy = prepareRlPolicy(addTask, pc, cfg);
  const prm = loadPrm(addTask, readCheckpoint(CHECKPOINTS, 'prm', 'add'));
  const service = new LocalPolicyService(addTask, policy, () =>
    PolicyModel.fromCheckpoint(addTask, pc.manifestJson, pc.blob),
  );
  const trainer = new Trainer(addTask, cfg, service, new LocalPrmService(prm));
  const out: Recorded = { metrics: [], rollouts: [], weights: '' };
  for (let i = 0; i < ITERS; i++) {
    const { metrics, rollouts } = await trainer.step();
    const { timeMs: _time, ...rest } = metrics;
    out.metrics.push(JSON.parse(JSON.stringify(rest)));
    out.rollouts.push(rolloutsDigest(rollouts));
  }
  out.weights = weightsDigest(policy);
  policy.dispose();
  prm.dispose();
  return out;
}

const update = process.env.UPDATE_REPLAY === '1';
const recorded: Record<string, Recorded> =
  !update && existsSync(FIXTURE) ? JSON.parse(readFileSync(FIXTURE, 'utf8')) : {};

beforeAll(async () => {
  await useBackend('wasm');
});

describe('replay of a short run per method on the shipped checkpoints (wasm)', () => {
  const fresh: Record<string, Recorded> = {};
  for (const [name, over] of Object.entries(CASES))
    it(name, async () => {
      const got = await replay(over);
      fresh[name] = got;
      if (update) return;
      const want = recorded[name];
      expect(want, `no recording for ${name}: run with UPDATE_REPLAY=1`).toBeDefined();
      // Metric by metric first, so a failure names the iteration and the metric.
      for (let i = 0; i < ITERS; i++)
        expect(got.metrics[i], `${name} iteration ${i + 1}`).toEqual(want.metrics[i]);
      expect(got.rollouts).toEqual(want.rollouts);
      expect(got.weights).toBe(want.weights);
    });

  it.runIf(update)('writes the recording', () => {
    expect(Object.keys(fresh)).toEqual(Object.keys(CASES));
    writeFileSync(FIXTURE, `${JSON.stringify(fresh, null, 2)}\n`);
  });
});
