/**
 * .github/workflows/experiment.yml (issue 17): valid against the published GitHub workflow schema
 * (@action-validator/core), and it runs the compare command's real options as a matrix of shards
 * plus a merge job.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { validateWorkflow } from '@action-validator/core';
import { describe, expect, it } from 'vitest';
import { cellList, parseShard, shardCells } from '../src/core/compare/cells';
import { ALGOS, type Algo } from '../src/core/rl/config';
import { SCENARIO_NAMES } from '../src/core/scenarios';

const ROOT = path.resolve(import.meta.dirname, '..');
const WORKFLOW = readFileSync(path.join(ROOT, '.github/workflows/experiment.yml'), 'utf8');
const COMPARE = readFileSync(path.join(ROOT, 'scripts/compare.ts'), 'utf8');

/** The workflow input's default (the line after `<name>:` ... `default:`). */
function inputDefault(name: string): string {
  const m = new RegExp(`\\n      ${name}:\\n(?:        .*\\n)*?        default: (.*)\\n`).exec(WORKFLOW);
  if (!m) throw new Error(`no default for input ${name}`);
  return m[1].trim();
}

describe('experiment workflow', () => {
  it('is a valid GitHub Actions workflow', () => {
    const r = validateWorkflow(WORKFLOW);
    expect(r.errors).toEqual([]);
  });

  it('the validator does reject broken workflows (the check can fail)', () => {
    expect(
      validateWorkflow(WORKFLOW.replace(/runs-on: ubuntu-latest/g, 'runs_on: ubuntu-latest')).errors,
    ).not.toEqual([]);
    expect(
      validateWorkflow(WORKFLOW.replace('timeout-minutes: 180', 'timeout-minutes: soon')).errors,
    ).not.toEqual([]);
    expect(validateWorkflow(`${WORKFLOW}\n  oops: [\n`).errors).not.toEqual([]);
  });

  it('runs shards as a matrix, uploads each, and merges them after all shards', () => {
    expect(WORKFLOW).toMatch(/matrix:\n\s+shard: \$\{\{ fromJSON\(needs\.plan\.outputs\.shards\) \}\}/);
    expect(WORKFLOW).toMatch(/--shard "\$SHARD\/\$SHARDS" --out "results\/shard-\$SHARD"/);
    expect(WORKFLOW).toMatch(
      /name: shard-\$\{\{ matrix\.shard \}\}\n\s+path: results\/shard-\$\{\{ matrix\.shard \}\}/,
    );
    expect(WORKFLOW).toMatch(/merge:\n(?:.*\n)*?\s+needs: shard\n/);
    expect(WORKFLOW).toMatch(/download-artifact@v4\n\s+with:\n\s+pattern: shard-\*\n\s+path: results\n/);
    expect(WORKFLOW).toMatch(/npm run compare -- --merge results\/shard-\* --out/);
    expect(WORKFLOW).toMatch(/fail-fast: false/);
  });

  it('uses only options the compare command has, and defaults that parse', () => {
    const used = [...WORKFLOW.matchAll(/ --([a-z-]+)/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(5);
    for (const opt of new Set(used))
      expect(COMPARE, `--${opt}`).toMatch(new RegExp(`\\n\\s+'?${opt}'?: \\{ type:`));
    const algos = inputDefault('algos').split(',');
    for (const a of algos) expect(ALGOS).toContain(a);
    expect(SCENARIO_NAMES).toContain(inputDefault('scenario'));
    const seeds = Number(inputDefault('seeds'));
    const shards = Number(inputDefault('shards'));
    // The default shards hold every cell of the default experiment exactly once.
    const all = cellList(algos as Algo[], seeds);
    const parts = Array.from({ length: shards }, (_, i) => shardCells(all, parseShard(`${i + 1}/${shards}`)));
    expect(parts.flat()).toHaveLength(all.length);
    expect(new Set(parts.flat().map((c) => `${c.algo}-${c.seed}`)).size).toBe(all.length);
    expect(Math.max(...parts.map((p) => p.length))).toBe(Math.ceil(all.length / shards));
  });
});
