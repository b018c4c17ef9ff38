/**
 * Per-tensor difference statistics between a backend's output and the reference (cpu) output.
 * Raw numbers only: the pass/fail rule (relative difference and its threshold) lives in the test.
 */

/** One named output as read back to the host. Int32 outputs (token ids) must match exactly. */
export type Output = Float32Array | Int32Array;

export interface TensorDiff {
  name: string;
  /** 'float': compared with a tolerance; 'exact': token ids, which must be identical. */
  kind: 'float' | 'exact';
  /** Number of entries compared (the reference's length). */
  size: number;
  /** Set when the lengths differ: nothing else is meaningful then. */
  sizeMismatch: { got: number; want: number } | null;
  /** max_i |got_i - want_i|; Infinity where one side is non-finite and the other is not (or NaN). */
  maxAbsDiff: number;
  /** max_i |want_i|. */
  refMaxAbs: number;
  /** Non-finite entries in the reference itself (a broken reference, not a passing one). */
  refNonFinite: number;
  /** Entries that differ at all (for 'exact' outputs the failure count). */
  mismatches: number;
  /** Index of the largest difference, -1 when none. */
  worstIndex: number;
}

export function diffOutputs(name: string, got: Output, want: Output): TensorDiff {
  const kind = want instanceof Int32Array ? 'exact' : 'float';
  const base: TensorDiff = {
    name,
    kind,
    size: want.length,
    sizeMismatch: null,
    maxAbsDiff: 0,
    refMaxAbs: 0,
    refNonFinite: 0,
    mismatches: 0,
    worstIndex: -1,
  };
  if (got.length !== want.length || got.constructor !== want.constructor)
    return {
      ...base,
      sizeMismatch: { got: got.length, want: want.length },
      maxAbsDiff: Number.POSITIVE_INFINITY,
    };
  for (let i = 0; i < want.length; i++) {
    const a = got[i];
    const b = want[i];
    if (!Number.isFinite(b)) base.refNonFinite++;
    else base.refMaxAbs = Math.max(base.refMaxAbs, Math.abs(b));
    // Object.is: equal non-finite values (Infinity vs Infinity) are no difference; NaN vs anything is.
    let d = Object.is(a, b) ? 0 : Math.abs(a - b);
    if (Number.isNaN(d)) d = Number.POSITIVE_INFINITY;
    if (d !== 0) base.mismatches++;
    if (d > base.maxAbsDiff) {
      base.maxAbsDiff = d;
      base.worstIndex = i;
    }
  }
  return base;
}
