/**
 * Kernel parity (issue 4, first acceptance line): the shipped `add` policy and PRM on wasm and on
 * webgpu (SwiftShader here) against the cpu backend, in headless Chromium, in a worker:
 * forward passes, every parameter's gradient for the SFT, RL and PRM losses, KV-cache decoding.
 *
 * Metric, per output tensor (ref = the cpu backend's output):
 *   rel = max_i |x_i - ref_i| / max(max_i |ref_i|, TINY)   must be <= REL_TOL = 1e-3
 * Token ids (greedy decode) must be identical; any WebGPU device error fails.
 */
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { paramShapes } from '../src/core/model';
import type { TensorDiff } from '../src/parity/compare';
import type { ParityReport } from '../src/parity/protocol';

const REL_TOL = 1e-3;
const TINY = 1e-12;

const rel = (d: TensorDiff) => d.maxAbsDiff / Math.max(d.refMaxAbs, TINY);

/** Every failure in a report, one readable line each (empty: parity holds). */
function failures(report: ParityReport): string[] {
  const out: string[] = [];
  for (const b of report.backends) {
    if (b.error) out.push(`${b.backend}: ${b.error}`);
    for (const f of b.faults) out.push(`${b.backend}: WebGPU ${f.kind} error in ${f.probe}: ${f.message}`);
    for (const d of b.diffs) {
      const at = `${b.backend} ${d.name}`;
      if (d.sizeMismatch) out.push(`${at}: ${d.sizeMismatch.got} values, cpu has ${d.sizeMismatch.want}`);
      else if (d.refNonFinite > 0)
        out.push(`${at}: the cpu reference has ${d.refNonFinite} non-finite values`);
      else if (d.kind === 'exact' && d.mismatches > 0)
        out.push(
          `${at}: ${d.mismatches} of ${d.size} token ids differ (first at or near index ${d.worstIndex})`,
        );
      else if (!(rel(d) <= REL_TOL))
        out.push(
          `${at}: rel diff ${rel(d).toExponential(2)} > ${REL_TOL} ` +
            `(max|diff| ${d.maxAbsDiff.toExponential(2)} at index ${d.worstIndex}, max|cpu| ${d.refMaxAbs.toExponential(2)})`,
        );
    }
  }
  return out;
}

/** Per tensor, the worst rel diff over the backends (a table for the test log). */
function table(report: ParityReport): string {
  const lines = [`cpu reference ${report.referenceSeconds.toFixed(1)} s`];
  for (const b of report.backends)
    lines.push(`${b.backend}${b.adapter ? ` [${b.adapter}]` : ''} ${b.seconds.toFixed(1)} s`);
  lines.push(`${'tensor'.padEnd(30)}${report.backends.map((b) => b.backend.padStart(12)).join('')}`);
  for (const { name } of report.outputs)
    lines.push(
      name.padEnd(30) +
        report.backends
          .map((b) => {
            const d = b.diffs.find((x) => x.name === name);
            if (!d) return '-'.padStart(12);
            return (d.kind === 'exact' ? `${d.mismatches} diff` : rel(d).toExponential(2)).padStart(12);
          })
          .join(''),
    );
  return lines.join('\n');
}

/** Parameter names of the shipped checkpoints (so "every parameter's gradient" is checked, not assumed). */
function checkpointParams(kind: 'policy' | 'prm'): string[] {
  const manifest = JSON.parse(readFileSync(`public/checkpoints/add/${kind}.json`, 'utf8'));
  return paramShapes({ ...manifest.config, kind }).map(([name]) => name);
}

test('wasm and webgpu match cpu on forward, every gradient and KV-cache decoding', async ({ page }) => {
  // WebGPU on SwiftShader is CPU emulation (shader compiles dominate): ~60 s alone on 2 cores, 2x
  // that when they are shared; the limit leaves room for a loaded machine, not for a slow kernel.
  test.setTimeout(300_000);
  await page.goto('/parity.html');
  const report = await page.evaluate(() => window.parity.run({ backends: ['wasm', 'webgpu'] }));
  const summary = table(report);
  console.log(summary);
  await test.info().attach('parity-table.txt', { body: summary, contentType: 'text/plain' });
  await test
    .info()
    .attach('parity-report.json', { body: JSON.stringify(report, null, 1), contentType: 'application/json' });

  // The report covers what the acceptance line names.
  const names = report.outputs.map((o) => o.name);
  for (const p of checkpointParams('policy')) expect(names).toContain(`sft.grad/${p}`);
  for (const p of checkpointParams('policy')) expect(names).toContain(`rl.grad/${p}`);
  for (const p of checkpointParams('prm')) expect(names).toContain(`prm.grad/${p}`);
  for (const n of [
    'policy.logits',
    'prm.tokenLogits',
    'decode.step0.logits',
    'decode.step5.logits',
    'greedy.tokens',
  ])
    expect(names).toContain(n);
  expect(report.backends.map((b) => b.backend)).toEqual(['wasm', 'webgpu']);
  for (const b of report.backends) if (!b.error) expect(b.diffs.length).toBe(names.length);
  expect(report.backends[1].adapter).not.toBe('none');

  const bad = failures(report);
  expect(bad, `kernel parity failures:\n${bad.join('\n')}`).toEqual([]);
});

test('the check fails, naming the tensors, when one backend computes with a wrong weight', async ({
  page,
}) => {
  await page.goto('/parity.html');
  // Only the PRM's verifier offset is off (on wasm): PRM outputs must fail, policy outputs must not.
  const report = await page.evaluate(() =>
    window.parity.run({
      backends: ['wasm'],
      perturb: { backend: 'wasm', model: 'prm', param: 'prm.b', delta: 0.1 },
    }),
  );
  const bad = failures(report);
  const named = bad.map((line) => line.split(':')[0].replace(/^wasm /, ''));
  expect(named).toContain('prm.tokenLogits');
  expect(named).toContain('prm.loss');
  expect(named).toContain('prm.grad/prm.b');
  expect(named.filter((n) => !n.startsWith('prm.'))).toEqual([]);
});

test('WebGPU device errors are captured: thrown inside error scopes, recorded outside them', async ({
  page,
}) => {
  await page.goto('/parity.html');
  const r = await page.evaluate(() => window.parity.checkErrorCapture());
  console.log(`adapter: ${r.adapter}`);
  expect(r.validOp).toEqual([3, 5]);
  expect(r.scopedError).toMatch(/\[validation\]/);
  expect(r.uncaptured).toHaveLength(1);
  expect(r.uncaptured[0].kind).toBe('uncaptured');
});
