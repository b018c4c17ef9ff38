/**
 * Resuming a run from a policy checkpoint, the same way in every runtime: the checkpoint's meta
 * carries the coordinator's RNG state (`trainerRng`), so a resumed run draws the same problems,
 * resets and teacher solutions as an uninterrupted one. The browser session and `train --resume`
 * both go through here.
 */
import { Rng, type RngState } from '../rng';
import type { StoredCheckpoint } from './services';

/** Checkpoint meta with the coordinator RNG state added. */
export function withTrainerRng(meta: Record<string, unknown>, rng: Rng): Record<string, unknown> {
  return { ...meta, trainerRng: rng.getState() };
}

/** The coordinator RNG state stored in a checkpoint's meta, or null (an older checkpoint). */
export function trainerRngOf(ck: StoredCheckpoint): RngState | null {
  const meta = (JSON.parse(ck.manifestJson) as { meta?: { trainerRng?: RngState } }).meta;
  return meta?.trainerRng ?? null;
}

/** The coordinator RNG to resume with; throws when the checkpoint has none (it cannot be exact). */
export function resumedTrainerRng(ck: StoredCheckpoint): Rng {
  const state = trainerRngOf(ck);
  if (!state)
    throw new Error(
      'the checkpoint carries no coordinator RNG state (trainerRng), so the run cannot resume exactly',
    );
  return Rng.fromState(state);
}
