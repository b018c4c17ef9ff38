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

/** Decimal digits only: `0x10`, `1e3`, `2.0` and padded text are not integers on the command line. */
export function intOption(
  name: string,
  raw: string | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const v = Number(raw);
  if (raw === undefined || !/^[+-]?\d+$/.test(raw) || v < min || v > max)
    throw new Error(`--${name} must be an integer in [${min}, ${max}], got '${raw}'`);
  return v;
}

/**
 * `raw` if it is one of `allowed`, else an Error `unknown <label> '<raw>'[ <where>] (expected <expected>)`;
 * `expected` defaults to the list joined by ', '.
 */
export function choiceOption<T extends string>(
  label: string,
  raw: string,
  allowed: readonly T[],
  wording: { where?: string; expected?: string } = {},
): T {
  if (!(allowed as readonly string[]).includes(raw)) {
    const where = wording.where === undefined ? '' : ` ${wording.where}`;
    throw new Error(`unknown ${label} '${raw}'${where} (expected ${wording.expected ?? allowed.join(', ')})`);
  }
  return raw as T;
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
