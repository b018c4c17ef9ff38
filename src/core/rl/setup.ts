/**
 * Setting up a run's models from stored checkpoints, shared by every runtime (the Node CLI, the
 * browser workers), so the same seed means the same run everywhere.
 */
import { PolicyModel, PrmModel } from '../agents';
import { Rng } from '../rng';
import type { Task } from '../tasks/types';
import type { StoredCheckpoint } from './services';

/**
 * The policy an RL run starts from: the checkpoint's weights, sampling re-seeded from the run seed
 * (runs differ only by their seed, not by the checkpoint's RNG state), and a fresh Adam. RL is a
 * new optimisation problem: the SFT run's moments describe the tiny gradients at the end of a
 * decayed schedule and would turn the first RL updates into steps many times larger than lr.
 */
export function prepareRlPolicy(
  task: Task,
  ck: StoredCheckpoint,
  run: { seed: number; adamEps: number },
): PolicyModel {
  const policy = PolicyModel.fromCheckpoint(task, ck.manifestJson, ck.blob);
  policy.rng.setState(new Rng(`policy-sampling/${run.seed}`).getState());
  policy.opt.reset({ eps: run.adamEps });
  return policy;
}

export function loadPrm(task: Task, ck: StoredCheckpoint): PrmModel {
  return PrmModel.fromCheckpoint(task, ck.manifestJson, ck.blob);
}
