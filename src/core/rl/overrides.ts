/**
 * Config overrides written as text ("key=value" on the command line, `set.key=value` in a runner
 * URL) -> typed values following each default's type. `parseRlConfig` then validates them; the
 * numeric bounds are checked here too, so the message names the knob's own range (zod's integer
 * check would otherwise report the safe-integer limit first).
 */
import { DEFAULT_RL, rlConfigSchema } from './config';

/** Decimal numbers only: `0x10`, `0b1`, `Infinity` and padded text are not numbers here. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const DECIMAL_INT = /^[+-]?\d+$/;

interface NumberBounds {
  minValue?: number | null;
  maxValue?: number | null;
  isInt?: boolean;
  unwrap?: () => NumberBounds;
}

/** The schema's bounds of a numeric knob (nullable ones unwrapped). */
function boundsOf(key: string): { min: number; max: number; int: boolean } {
  let field = (rlConfigSchema.shape as Record<string, unknown>)[key] as NumberBounds;
  if (typeof field.unwrap === 'function') field = field.unwrap();
  return {
    min: field.minValue ?? Number.NEGATIVE_INFINITY,
    max: field.maxValue ?? Number.POSITIVE_INFINITY,
    int: field.isInt === true,
  };
}

export function parseOverrides(items: readonly string[], flag = '--set'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 1) throw new Error(`${flag} expects key=value, got '${item}'`);
    const key = item.slice(0, eq);
    const raw = item.slice(eq + 1);
    // Own keys only: `in` would accept __proto__, constructor, toString... from Object.prototype.
    if (!Object.hasOwn(DEFAULT_RL, key)) throw new Error(`${flag}: unknown config key '${key}'`);
    const def = (DEFAULT_RL as Record<string, unknown>)[key];
    if (typeof def === 'number' || (def === null && key === 'rectifyCap')) {
      if (raw === 'null' && def === null) {
        out[key] = null;
        continue;
      }
      if (!DECIMAL.test(raw)) throw new Error(`${flag} ${key}: '${raw}' is not a number`);
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new Error(`${flag} ${key}: '${raw}' is not a number`);
      // Integer knobs: decimal digits within the knob's own bounds (1e3 or 2.5 is not an integer
      // here). Other numbers are left to parseRlConfig, which knows open and closed bounds.
      const { min, max, int } = boundsOf(key);
      if (int && (!DECIMAL_INT.test(raw) || value < min || value > max))
        throw new Error(`invalid ${key} ${raw}: expected an integer in [${min}, ${max}]`);
      out[key] = value;
    } else if (typeof def === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw new Error(`${flag} ${key}: '${raw}' is not true or false`);
      out[key] = raw === 'true';
    } else out[key] = raw;
  }
  return out;
}
