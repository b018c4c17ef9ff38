/**
 * The cells of a comparison: one (algorithm, seed) run each. A cell's id names its directory
 * (`cells/<algo>-s<seed>`); the canonical order (algorithm name, then seed) makes sharding
 * independent of how `--algos` was spelled.
 */
import { ALGOS, type Algo } from '../rl/config';

export interface Cell {
  algo: Algo;
  seed: number;
}

export interface Shard {
  /** 1-based index of this shard. */
  index: number;
  count: number;
}

export function cellId(c: Cell): string {
  return `${c.algo}-s${c.seed}`;
}

/** "grpo,scope" -> validated, de-duplicated algorithm list (in the order given). */
export function parseAlgos(raw: string): Algo[] {
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) throw new Error('--algos is empty');
  for (const n of names)
    if (!(ALGOS as readonly string[]).includes(n))
      throw new Error(`unknown algo '${n}' (expected one of: ${ALGOS.join(', ')})`);
  return [...new Set(names)] as Algo[];
}

/** "i/n" with 1 <= i <= n. */
export function parseShard(raw: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(raw.trim());
  const index = m ? Number(m[1]) : Number.NaN;
  const count = m ? Number(m[2]) : Number.NaN;
  if (!m || count < 1 || index < 1 || index > count)
    throw new Error(`--shard must be i/n with 1 <= i <= n (e.g. 2/4), got '${raw}'`);
  return { index, count };
}

/** Every (algo, seed) cell for seeds 1..seeds, in canonical order. */
export function cellList(algos: readonly Algo[], seeds: number): Cell[] {
  const cells: Cell[] = [];
  for (const algo of algos) for (let seed = 1; seed <= seeds; seed++) cells.push({ algo, seed });
  return sortCells(cells);
}

export function sortCells(cells: readonly Cell[]): Cell[] {
  return [...cells].sort((a, b) => (a.algo === b.algo ? a.seed - b.seed : a.algo < b.algo ? -1 : 1));
}

/**
 * Shard i of n: the cells at canonical positions p with p % n == i - 1. Interleaving spreads every
 * algorithm (and its cost) over all shards; the n shards together hold every cell exactly once.
 */
export function shardCells(cells: readonly Cell[], shard: Shard): Cell[] {
  return sortCells(cells).filter((_, p) => p % shard.count === shard.index - 1);
}
