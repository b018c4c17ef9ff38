/**
 * No code generated at run time (issue 9, item 9): no `eval`, `new Function`/`Function(...)`, or
 * string timers in our source, and in the built output (dist/, the widget build dist/widget/ when
 * there is one) only the few dependency snippets listed in KNOWN, each with the reason it never
 * runs in a browser. e2e/csp.spec.ts then runs the built pages under a CSP without 'unsafe-eval'.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { transformWithOxc } from 'vite';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');

/** What generates code from a string. Property names (`x.eval`) and words in text do not match. */
const CODEGEN: { name: string; re: RegExp }[] = [
  { name: 'eval call', re: /(?<![\w$.])eval\s*\(/g },
  { name: 'indirect eval', re: /\(\s*0\s*,\s*eval\s*\)/g },
  { name: 'eval alias', re: /[=,]\s*eval(?![\w$])/g },
  { name: 'Function constructor', re: /(?<![\w$.])Function\s*\(/g },
  { name: 'Function alias', re: /[=,(]\s*Function(?![\w$])/g },
  { name: 'string timer', re: /(?<![\w$])set(?:Timeout|Interval)\(\s*['"`]/g },
];

/**
 * Dependency code in the bundles that contains a code-generation pattern but cannot run there.
 * Each is matched against the finding's surroundings; anything else fails the test.
 */
const KNOWN: { what: string; context: RegExp; why: string }[] = [
  {
    what: "zod 4's eval probe (util.allowsEval)",
    context: /try\{return Function\(``\),!0\}catch\{return!1\}/,
    why: 'skipped under jitless, which src/core/zod.ts sets before any schema is built (tested below)',
  },
  {
    what: "zod 4's parser compiler (Doc.compile: new Function)",
    context: /compile\(\)\{let [\w$]+=Function,/,
    why: 'called only when the eval probe succeeded: never under jitless',
  },
  {
    what: "tfjs-backend-wasm's Emscripten Node.js shim, in the source text of its thread worker",
    context: /importScripts:function\([\w$]+\)\{\(0,eval\)\(fs\.readFileSync\(/,
    why: 'a string (wasmWorkerContents), and in it inside `if (ENVIRONMENT_IS_NODE)`: never runs in a browser',
  },
];

interface Finding {
  file: string;
  at: number;
  pattern: string;
  snippet: string;
}

function findCodegen(file: string, text: string): Finding[] {
  const out: Finding[] = [];
  for (const { name, re } of CODEGEN)
    for (const m of text.matchAll(re)) {
      const at = m.index ?? 0;
      out.push({
        file: path.relative(ROOT, file),
        at,
        pattern: name,
        snippet: text.slice(Math.max(0, at - 120), at + 120).replace(/\s+/g, ' '),
      });
    }
  return out;
}

function filesUnder(dir: string, ext: RegExp): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) return f === 'node_modules' ? [] : filesUnder(p, ext);
    return ext.test(f) ? [p] : [];
  });
}

/**
 * A source file as the code the bundler sees: TypeScript transpiled by vite's own transformer
 * (types and line comments gone), then the doc comments it keeps removed, so prose never matches.
 */
async function codeOnly(file: string): Promise<string> {
  const text = readFileSync(file, 'utf8');
  if (!file.endsWith('.ts')) return text;
  const { code } = await transformWithOxc(text, file, { lang: 'ts' });
  return code.replace(/\/\*[\s\S]*?\*\//g, '');
}

/** The newest modification time among the build's inputs. */
function newestInput(): number {
  const newest = (p: string): number => {
    if (!existsSync(p)) return 0;
    const st = statSync(p);
    if (!st.isDirectory()) return st.mtimeMs;
    return readdirSync(p).reduce((m, f) => Math.max(m, newest(path.join(p, f))), st.mtimeMs);
  };
  const top = readdirSync(ROOT).filter((f) => /\.html$|^vite.*\.config\.ts$|^package(-lock)?\.json$/.test(f));
  return Math.max(...[...top, 'src', 'workers', 'public', 'scripts'].map((f) => newest(path.join(ROOT, f))));
}

const report = (fs: Finding[]) => fs.map((f) => `${f.file}@${f.at} (${f.pattern}): ${f.snippet}`).join('\n');

describe('our source generates no code', () => {
  const sources = [
    ...filesUnder(path.join(ROOT, 'src'), /\.ts$/),
    ...filesUnder(path.join(ROOT, 'workers'), /\.ts$/),
    ...filesUnder(ROOT, /\.html$/).filter((f) => path.dirname(f) === ROOT),
  ];

  it('no eval, Function constructor or string timer in src/, workers/ or the pages', async () => {
    expect(sources.length).toBeGreaterThan(20);
    const findings: Finding[] = [];
    for (const f of sources) findings.push(...findCodegen(f, await codeOnly(f)));
    expect(findings, report(findings)).toEqual([]);
  });

  it('the scanner finds what it is meant to find', () => {
    const bad = [
      'eval("1+1")',
      'const f = new Function("a", "return a")',
      'Function("return this")()',
      '(0, eval)(src)',
      'const E = eval; E(s)',
      'const F = Function; new F(s)',
      "setTimeout('tick()', 10)",
    ];
    for (const code of bad) expect(findCodegen('x.js', code).length, code).toBeGreaterThan(0);
    const fine = [
      'x.eval(1)',
      'await trainer.evaluate()',
      'v instanceof Function',
      'new Rng("eval/add/test")',
      'typeof Function',
      'setTimeout(() => 1, 10)',
      'summary(){return`Function call`}',
    ];
    for (const code of fine) expect(findCodegen('x.js', code), code).toEqual([]);
  });

  it("zod is imported only through src/core/zod.ts (which turns zod's code generation off)", () => {
    const direct = sources.filter(
      (f) =>
        !f.endsWith(path.join('core', 'zod.ts')) &&
        /from\s+['"]zod(\/[^'"]*)?['"]/.test(readFileSync(f, 'utf8')),
    );
    expect(direct.map((f) => path.relative(ROOT, f))).toEqual([]);
  });

  it('building and using every schema constructs no Function', async () => {
    // This file imports nothing that loads zod, so the modules below load it fresh in this process
    // (vitest runs each test file in its own fork) with the trap in place.
    const RealFunction = globalThis.Function;
    const calls: string[] = [];
    globalThis.Function = new Proxy(RealFunction, {
      construct(target, args) {
        calls.push(`new Function(${args.map(String).join(', ').slice(0, 80)})`);
        return Reflect.construct(target, args);
      },
      apply(target, self, args) {
        calls.push(`Function(${args.map(String).join(', ').slice(0, 80)})`);
        return Reflect.apply(target, self, args);
      },
    });
    try {
      const { parseRlConfig } = await import('../src/core/rl/config');
      const { deserializeCheckpoint } = await import('../src/core/checkpoint');
      const { parseFaultInjection } = await import('../src/core/rl/faults');
      expect(parseRlConfig({ algo: 'grpo' }).groupSize).toBe(8);
      expect(() => parseRlConfig({ lr: -1 })).toThrow();
      const dir = path.join(ROOT, 'public', 'checkpoints', 'add');
      const ck = deserializeCheckpoint(
        readFileSync(path.join(dir, 'policy.json'), 'utf8'),
        new Uint8Array(readFileSync(path.join(dir, 'policy.bin'))),
      );
      expect(ck.manifest.task).toBe('add');
      expect(parseFaultInjection({}).nonFiniteLossAt).toEqual([]);
    } finally {
      globalThis.Function = RealFunction;
    }
    expect(calls).toEqual([]);
  });
});

describe('the built app (and widget) contain only known, unreachable code generation', () => {
  const dist = path.join(ROOT, 'dist');
  beforeAll(() => {
    // `npm run build` (the app, then the widget) in its own process, as shipped: inside vitest
    // NODE_ENV is 'test' and vite would resolve Lit's development build instead.
    const built = path.join(dist, 'widget', 'scope-trainer.js');
    if (existsSync(built) && statSync(built).mtimeMs > newestInput()) return;
    const env = { ...process.env, NODE_ENV: 'production' };
    const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`);
  }, 600_000);

  it('every finding in dist/ is a KNOWN dependency snippet', () => {
    const files = filesUnder(dist, /\.(m?js|html)$/);
    expect(files.some((f) => f.includes('policy.worker'))).toBe(true);
    const findings = files.flatMap((f) => findCodegen(f, readFileSync(f, 'utf8')));
    const unknown = findings.filter((f) => !KNOWN.some((k) => k.context.test(f.snippet)));
    expect(unknown, `code generation in the build:\n${report(unknown)}`).toEqual([]);
    // The list stays honest: every KNOWN entry still exists in the build (drop it when it goes).
    for (const k of KNOWN)
      expect(
        findings.some((f) => k.context.test(f.snippet)),
        k.what,
      ).toBe(true);
  });
});

describe('the shipped Content-Security-Policy (src/node/csp.ts)', () => {
  it('the embed example carries EMBED_EXAMPLE_CSP before its script, and vite builds PAGE_CSP into every page', async () => {
    const { EMBED_EXAMPLE_CSP, PAGE_CSP } = await import('../src/node/csp');
    const html = readFileSync(path.join(ROOT, 'public', 'embed-example.html'), 'utf8');
    const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]*)" \/>/.exec(html);
    expect(meta?.[1]).toBe(EMBED_EXAMPLE_CSP);
    expect(html.indexOf(meta![0])).toBeLessThan(html.indexOf('<script'));
    // The strict parts: no eval, no inline script, nothing by default.
    for (const policy of [PAGE_CSP, EMBED_EXAMPLE_CSP]) {
      expect(policy).toMatch(/^default-src 'none'; script-src 'self' 'wasm-unsafe-eval';/);
      expect(policy).not.toMatch(/'unsafe-eval'|script-src[^;]*'unsafe-inline'/);
    }
    const config = readFileSync(path.join(ROOT, 'vite.config.ts'), 'utf8');
    expect(config).toMatch(/'Content-Security-Policy': PAGE_CSP/);
    expect(config).toMatch(/'http-equiv': 'Content-Security-Policy', content: PAGE_CSP/);
  });
});
