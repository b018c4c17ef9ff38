/** Shared CLI plumbing: one-line errors with a non-zero exit, validated numeric options. */
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
