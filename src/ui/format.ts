/** Number formatting for the page: one place, so every panel writes numbers the same way. */

const DASH = '–';

/** 0.2675 -> "26.8%"; null/NaN -> "–". */
export function pct(x: number | null | undefined, digits = 1): string {
  return x == null || !Number.isFinite(x) ? DASH : `${(x * 100).toFixed(digits)}%`;
}

/** A plain number with a sensible number of significant digits (2e-5 stays readable). */
export function num(x: number | null | undefined, digits = 3): string {
  if (x == null || !Number.isFinite(x)) return DASH;
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(Math.max(0, digits - 1)).replace('e+', 'e');
  return String(Number(x.toPrecision(digits)));
}

/** Signed, for advantages: "+1.23", "-0.50", "0.00". */
export function signed(x: number, digits = 2): string {
  const s = x.toFixed(digits);
  return x > 0 && Number(s) !== 0 ? `+${s}` : s === `-${(0).toFixed(digits)}` ? (0).toFixed(digits) : s;
}

/** Milliseconds: "850 ms", "1.2 s", "2 min 5 s". */
export function ms(x: number | null | undefined): string {
  if (x == null || !Number.isFinite(x)) return DASH;
  if (x < 1000) return `${Math.round(x)} ms`;
  if (x < 60_000) return `${(x / 1000).toFixed(1)} s`;
  const s = Math.round(x / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** Bytes: "512 B", "1.2 MB". */
export function bytes(x: number | null | undefined): string {
  if (x == null || !Number.isFinite(x)) return DASH;
  const units = ['B', 'kB', 'MB', 'GB'];
  let v = x;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** A rate per second: "1,234/s". */
export function rate(x: number | null | undefined): string {
  return x == null || !Number.isFinite(x) ? DASH : `${Math.round(x).toLocaleString('en-US')}/s`;
}

/** A probability-like score in two decimals; "<0.01" rather than 0.00 or an exponent. */
export function score(x: number | null | undefined): string {
  if (x == null || !Number.isFinite(x)) return DASH;
  return x > 0 && x < 0.005 ? '<0.01' : x.toFixed(2);
}
