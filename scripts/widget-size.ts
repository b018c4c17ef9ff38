/**
 * The built widget's size: every file of dist/widget/ except the shipped checkpoints, raw and
 * gzipped (zlib's default level 6, what a web server typically sends), and the budget check: the
 * JavaScript, gzipped, at most WIDGET_JS_GZIP_BUDGET bytes. `npm run build` runs it and fails over
 * budget; `tsx scripts/widget-size.ts [dir] [--json]` prints the table.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

/** 1 MB of gzipped JavaScript (module + workers + shared chunks), issue 6. */
export const WIDGET_JS_GZIP_BUDGET = 1_000_000;

export interface SizedFile {
  file: string;
  kind: 'js' | 'wasm' | 'other';
  raw: number;
  gzip: number;
}

export interface WidgetSize {
  files: SizedFile[];
  js: { raw: number; gzip: number };
  wasm: { raw: number; gzip: number };
  total: { raw: number; gzip: number };
}

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else yield p;
  }
}

/** Sizes of the files under `dir`, the `checkpoints/` directory left out. */
export function measureWidget(dir: string): WidgetSize {
  const files: SizedFile[] = [];
  for (const p of walk(dir)) {
    const file = relative(dir, p).split('\\').join('/');
    if (file.startsWith('checkpoints/')) continue;
    const bytes = readFileSync(p);
    const kind = file.endsWith('.js') ? 'js' : file.endsWith('.wasm') ? 'wasm' : 'other';
    files.push({ file, kind, raw: bytes.length, gzip: gzipSync(bytes).length });
  }
  files.sort((a, b) => a.file.localeCompare(b.file));
  const sum = (fs: SizedFile[]) => ({
    raw: fs.reduce((n, f) => n + f.raw, 0),
    gzip: fs.reduce((n, f) => n + f.gzip, 0),
  });
  return {
    files,
    js: sum(files.filter((f) => f.kind === 'js')),
    wasm: sum(files.filter((f) => f.kind === 'wasm')),
    total: sum(files),
  };
}

function table(s: WidgetSize): string {
  const kb = (n: number) => `${(n / 1000).toFixed(1)} kB`.padStart(11);
  const rows = s.files.map((f) => `${f.file.padEnd(50)}${kb(f.raw)}${kb(f.gzip)}`);
  const line = (label: string, t: { raw: number; gzip: number }) =>
    `${label.padEnd(50)}${kb(t.raw)}${kb(t.gzip)}`;
  return [
    `${'file'.padEnd(50)}${'raw'.padStart(11)}${'gzip'.padStart(11)}`,
    ...rows,
    line('JS total', s.js),
    line('WASM total', s.wasm),
    line('all (checkpoints excluded)', s.total),
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const dir = resolve(args.find((a) => !a.startsWith('--')) ?? 'dist/widget');
  const size = measureWidget(dir);
  console.log(args.includes('--json') ? JSON.stringify(size, null, 2) : table(size));
  if (size.js.gzip > WIDGET_JS_GZIP_BUDGET) {
    console.error(
      `widget JS is ${size.js.gzip} bytes gzipped, over the ${WIDGET_JS_GZIP_BUDGET} byte budget`,
    );
    process.exit(1);
  }
  console.log(`widget JS gzip ${size.js.gzip} <= budget ${WIDGET_JS_GZIP_BUDGET} bytes`);
}
