/**
 * Config overrides written as text ("key=value" on the command line, `set.key=value` in a runner
 * URL) -> typed values following each default's type. `parseRlConfig` then validates them.
 */
import { DEFAULT_RL } from './config';

export function parseOverrides(items: readonly string[], flag = '--set'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 1) throw new Error(`${flag} expects key=value, got '${item}'`);
    const key = item.slice(0, eq);
    const raw = item.slice(eq + 1);
    if (!(key in DEFAULT_RL)) throw new Error(`${flag}: unknown config key '${key}'`);
    const def = (DEFAULT_RL as Record<string, unknown>)[key];
    if (typeof def === 'number' || (def === null && key === 'rectifyCap')) {
      out[key] = raw === 'null' ? null : Number(raw);
      if (raw !== 'null' && (raw.trim() === '' || !Number.isFinite(out[key] as number)))
        throw new Error(`${flag} ${key}: '${raw}' is not a number`);
    } else if (typeof def === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw new Error(`${flag} ${key}: '${raw}' is not true or false`);
      out[key] = raw === 'true';
    } else out[key] = raw;
  }
  return out;
}
