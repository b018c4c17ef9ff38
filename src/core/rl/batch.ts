/**
 * The update batch's plain data (token roles and the flat per-token arrays), without tensors: the
 * coordinator builds it on the main thread, which must not load tfjs, and ./loss.ts consumes it.
 */

/** What each predicted token contributes to the loss. */
export const ROLE = {
  /** Not trained (prompt, padding, a reset prefix). */
  masked: 0,
  /** On-policy: clipped surrogate against the recorded behaviour log-prob. */
  on: 1,
  /** Off-policy (teacher) token: shaped weight -A * p/(p+gamma). */
  off: 2,
  /** Plain policy gradient -A * log p (RRPO/SRPO; with A = 1 it is supervised NLL). */
  pg: 3,
} as const;
export type Role = (typeof ROLE)[keyof typeof ROLE];

/** A padded update batch: B sequences of T tokens, per-token arrays over the T-1 predictions. */
export interface UpdateBatch {
  B: number;
  T: number;
  /** [B*T] token ids, right-padded. */
  ids: Int32Array;
  /** [B*(T-1)] role of the prediction of token t+1. */
  roles: Uint8Array;
  /** [B*(T-1)] behaviour log-prob (on-policy tokens; 0 elsewhere). */
  oldLogps: Float32Array;
  /** [B*(T-1)] advantage of the token's sequence. */
  advantages: Float32Array;
  /** [B*(T-1)] aggregation weight (0 on masked tokens). */
  weights: Float32Array;
  /** [B*(T-1)] reference log-prob for the KL penalty (only when beta > 0). */
  refLogps?: Float32Array;
}
