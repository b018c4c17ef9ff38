/**
 * Evaluation metrics (shared/design/algorithms.md section 7) and small statistics helpers.
 * Empty inputs give NaN rather than a made-up 0, so the UI can show "n/a" honestly.
 */

/**
 * Unbiased pass@k from n samples of which c are correct (Chen et al. 2021):
 *   pass@k = 1 - C(n-c, k) / C(n, k) = 1 - prod_{i=n-c+1}^{n} (1 - k/i)
 * The product form avoids huge binomials. Returns 1 when n - c < k (every k-subset has a success).
 */
export function passAtK(n: number, c: number, k: number): number {
  if (
    !(Number.isInteger(n) && Number.isInteger(c) && Number.isInteger(k)) ||
    c < 0 ||
    c > n ||
    k < 1 ||
    k > n
  )
    throw new Error(`passAtK: need integers 0 <= c <= n and 1 <= k <= n (n=${n}, c=${c}, k=${k})`);
  if (n - c < k) return 1;
  let fail = 1;
  for (let i = n - c + 1; i <= n; i++) fail *= 1 - k / i;
  return 1 - fail;
}

/**
 * Diversity (our definition, section 7): per prompt, distinct step-sequence keys / samples,
 * averaged over prompts (prompts with no samples are skipped).
 */
export function diversity(groups: readonly (readonly string[])[]): number {
  return mean(groups.filter((g) => g.length > 0).map((g) => new Set(g).size / g.length));
}

/** Mean number of distinct *correct* step sequences per prompt (prompts with no samples skipped). */
export function correctPaths(groups: readonly (readonly { key: string; correct: boolean }[])[]): number {
  return mean(
    groups.filter((g) => g.length > 0).map((g) => new Set(g.filter((s) => s.correct).map((s) => s.key)).size),
  );
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/**
 * Standard deviation sqrt(sum (x - mean)^2 / (n - ddof)): ddof 0 = population (default, as in the
 * advantages), ddof 1 = sample. NaN when n <= ddof.
 */
export function std(values: readonly number[], ddof: 0 | 1 = 0): number {
  const n = values.length;
  if (n <= ddof) return Number.NaN;
  const m = mean(values);
  let s = 0;
  for (const v of values) s += (v - m) * (v - m);
  return Math.sqrt(s / (n - ddof));
}

/** Two-sided 95% Student-t critical values t_{0.975, df} for df = 1..30. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t_{0.975, df}: table up to 30, beyond it the Cornish-Fisher term z + (z^3 + z)/(4 df) (error < 0.003). */
export function tCritical95(df: number): number {
  if (df < 1) return Number.NaN;
  if (df <= 30) return T975[Math.floor(df) - 1];
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df);
}

/**
 * Half-width of the 95% confidence interval of the mean: t_{0.975, n-1} * s / sqrt(n), s the sample
 * std (seeds are few, so the t-distribution, not 1.96). NaN for n < 2.
 */
export function ci95(values: readonly number[]): number {
  const n = values.length;
  if (n < 2) return Number.NaN;
  return (tCritical95(n - 1) * std(values, 1)) / Math.sqrt(n);
}

/**
 * ROC AUC = P(score of a random positive > score of a random negative) + 0.5 * P(tie), computed
 * with the Mann-Whitney rank statistic (tied scores share their average rank):
 *   AUC = (sum of positive ranks - nPos(nPos+1)/2) / (nPos * nNeg)
 * NaN when either class is absent. Labels: truthy = positive.
 */
export function rocAuc(scores: readonly number[], labels: readonly (boolean | number)[]): number {
  if (scores.length !== labels.length) throw new Error('rocAuc: scores and labels differ in length');
  const order = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
  const ranks = new Array<number>(scores.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    const avg = (i + j) / 2 + 1; // ranks are 1-based
    for (let t = i; t <= j; t++) ranks[order[t]] = avg;
    i = j + 1;
  }
  let nPos = 0;
  let rankSum = 0;
  labels.forEach((l, i) => {
    if (l) {
      nPos++;
      rankSum += ranks[i];
    }
  });
  const nNeg = labels.length - nPos;
  if (nPos === 0 || nNeg === 0) return Number.NaN;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}
