/**
 * Colour scales of the rollout inspector. Both return a background and a text colour chosen for
 * contrast, so a coloured token stays readable; colour is never the only cue (the inspector also
 * prints scores, marks and signs).
 */

export interface Swatch {
  background: string;
  color: string;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/**
 * PRM step score in [0, 1]: red (0, surely wrong) -> amber (tau) -> green (1, surely right).
 * Hue runs 0 -> 45 below tau and 45 -> 130 above, so the threshold is where the colour turns.
 */
export function prmSwatch(score: number, tau = 0.5): Swatch {
  const s = clamp(Number.isFinite(score) ? score : 0, 0, 1);
  const hue = s < tau ? (45 * s) / tau : 45 + (85 * (s - tau)) / (1 - tau);
  return { background: `hsl(${Math.round(hue)} 75% 82%)`, color: '#1a1a1a' };
}

/**
 * Advantage, diverging around 0: blue for reinforced tokens (A > 0), red for discouraged ones
 * (A < 0), white for none. Saturates at |A| = `scale` (2 std for group-normalised advantages).
 */
export function advantageSwatch(a: number, scale = 2): Swatch {
  const t = clamp(Number.isFinite(a) ? a / scale : 0, -1, 1);
  const hue = t >= 0 ? 215 : 0;
  const light = Math.round(97 - 32 * Math.abs(t));
  return { background: `hsl(${hue} 80% ${light}%)`, color: '#1a1a1a' };
}

/** Greyed-out swatch for masked tokens (prompt, RRPO/SRPO reset prefix): no gradient. */
export const MASKED_SWATCH: Swatch = { background: '#e6e6e6', color: '#555' };

/** Line colours of the charts: the main run and the compared run (colour-blind safe pair). */
export const RUN_COLORS = ['#1f6fb4', '#d1621a'] as const;

/** Colours of the metrics inside one chart (Okabe-Ito). */
export const SERIES_COLORS = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00'] as const;
