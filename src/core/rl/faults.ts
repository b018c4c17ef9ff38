/**
 * Fault injection, for tests only: make chosen iterations' updates non-finite so the guard in
 * `optimiseStep` (skip any update whose loss or gradient norm is not finite) is exercised end to
 * end. Normal runs never set it, and it costs nothing then: the Trainer looks up one iteration
 * number per update, and the service adds its poison op only to a poisoned update.
 *
 * The Trainer decides *which* iterations (`Trainer.injectFaults`); the policy service does the
 * poisoning (`UpdateOptions.injectNonFinite`, `poisonLoss` in services.ts). That option is plain
 * data, so the same hook reaches a policy service running in a browser worker. This file loads no
 * tfjs: the Trainer imports it, and the Trainer runs on the page's main thread.
 */
import { z } from '../zod';

/** What to poison: the loss value (NaN), or only the gradients (infinite, with a finite loss). */
export type NonFiniteKind = 'loss' | 'gradient';

const iterations = z.array(z.number().int().min(1)).max(100_000);

const faultInjectionSchema = z
  .object({
    /** 1-based iterations whose update gets a NaN loss. */
    nonFiniteLossAt: iterations.default([]),
    /** 1-based iterations whose update gets infinite gradients while the loss stays finite. */
    nonFiniteGradientAt: iterations.default([]),
  })
  .strict();

export type FaultInjection = z.infer<typeof faultInjectionSchema>;

/** Validate a fault spec; the error names the first bad field. */
export function parseFaultInjection(spec: unknown): FaultInjection {
  const res = faultInjectionSchema.safeParse(spec);
  if (!res.success) {
    const issue = res.error.issues[0];
    throw new Error(`invalid fault injection ${issue.path.join('.') || 'spec'}: ${issue.message}`);
  }
  return res.data;
}

/** The poison due at a (1-based) iteration, if any. */
export function faultAt(spec: FaultInjection | null, iter: number): NonFiniteKind | undefined {
  if (!spec) return undefined;
  if (spec.nonFiniteLossAt.includes(iter)) return 'loss';
  if (spec.nonFiniteGradientAt.includes(iter)) return 'gradient';
  return undefined;
}
