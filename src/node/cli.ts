/** Shared CLI plumbing: one-line errors with a non-zero exit, validated numeric options, --set. */
import { DEFAULT_RL } from '../core/rl/config';

export async function cliMain(help: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`error: ${msg.split('\n')[0]}`);
    if (/Unknown option|missing --|unexpected argument/i.test(msg)) console.error(help.split('\n')[0]);
    process.exit(2);
  }
}

export function intOption(
  name: string,
  raw: string | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const v = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isInteger(v) || v < min || v > max)
    throw new Error(`--${name} must be an integer in [${min}, ${max}], got '${raw}'`);
  return v;
}

export function numOption(
  name: string,
  raw: string | undefined,
  min: number,
  max = Number.POSITIVE_INFINITY,
): number {
  const v = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(v) || v < min || v > max)
    throw new Error(`--${name} must be a number in [${min}, ${max}], got '${raw}'`);
  return v;
}

/** "key=value" -> typed value following the default's type. */
export function parseSet(items: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 1) throw new Error(`--set expects key=value, got '${item}'`);
    const key = item.slice(0, eq);
    const raw = item.slice(eq + 1);
    if (!(key in DEFAULT_RL)) throw new Error(`--set: unknown config key '${key}'`);
    const def = (DEFAULT_RL as Record<string, unknown>)[key];
    if (typeof def === 'number' || (def === null && key === 'rectifyCap')) {
      out[key] = raw === 'null' ? null : Number(raw);
      if (raw !== 'null' && (raw.trim() === '' || !Number.isFinite(out[key] as number)))
        throw new Error(`--set ${key}: '${raw}' is not a number`);
    } else if (typeof def === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw new Error(`--set ${key}: '${raw}' is not true or false`);
      out[key] = raw === 'true';
    } else out[key] = raw;
  }
  return out;
}
