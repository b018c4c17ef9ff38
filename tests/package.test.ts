import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// npm runs `pre<name>` before `<name>`: with a `pretrain` script, `npm run train` would first run the
// whole pretraining. The project's .npmrc turns hooks off; this keeps the two facts together.
describe('package scripts', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
  const npmrc = readFileSync('.npmrc', 'utf8');

  it('has every script the README runs', () => {
    const readme = readFileSync('README.md', 'utf8');
    const used = [...readme.matchAll(/npm run ([a-z:-]+)/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(pkg.scripts, `npm run ${name}`).toHaveProperty(name);
  });

  it('never runs a pre-/post- hook by accident', () => {
    const hooked = Object.keys(pkg.scripts).filter(
      (s) => pkg.scripts[`pre${s}`] !== undefined || pkg.scripts[`post${s}`] !== undefined,
    );
    if (hooked.length > 0) expect(npmrc).toMatch(/^ignore-scripts=true$/m);
  });
});
