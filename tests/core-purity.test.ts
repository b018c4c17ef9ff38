import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** src/core must run unchanged in Node and in the browser: no Node, DOM, worker or storage APIs. */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const FORBIDDEN: [RegExp, string][] = [
  [/from ['"]node:/, 'a node: import'],
  [/from ['"](fs|path|os|child_process|worker_threads)['"]/, 'a Node built-in import'],
  [/\b(window|document|localStorage|indexedDB|navigator)\./, 'a DOM or storage API'],
  [/\bnew Worker\(|\bpostMessage\(/, 'a worker API'],
  [/\bprocess\.(env|argv|exit|stdout|stderr)\b/, 'a Node process API'],
  [/\beval\(|new Function\(/, 'evaluated code'],
];

describe('src/core purity', () => {
  const all = files(path.join('src', 'core'));
  it('has files to check', () => expect(all.length).toBeGreaterThan(10));
  for (const f of all)
    it(f, () => {
      const text = readFileSync(f, 'utf8');
      for (const [re, what] of FORBIDDEN) expect(re.test(text), `${f} uses ${what}`).toBe(false);
    });
});
