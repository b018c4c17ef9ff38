/**
 * `--backend auto` decided by measurement, end to end on SwiftShader (WebGPU emulated on the CPU):
 * `remeasure=1` forces the measurement a software adapter otherwise skips; the policy worker times
 * its model on wasm and webgpu, takes the faster, caches the decision in IndexedDB, and the PRM
 * worker follows it. A second page with the same configuration reuses the cached decision; a
 * different probe (another key) does not. The probe is tiny (`probe=`) so SwiftShader takes seconds.
 */
import { expect, test } from '@playwright/test';
import type { TrainingSession } from '../src/browser/session';
import type { BackendInfo } from '../src/browser/session-api';
import { openRunner, SMALL } from './runner';

const PROBE = encodeURIComponent(JSON.stringify({ batch: 2, seqLen: 8, newTokens: 2, runs: 2, warmup: 1 }));
const OTHER_PROBE = encodeURIComponent(
  JSON.stringify({ batch: 3, seqLen: 8, newTokens: 2, runs: 2, warmup: 1 }),
);
const BASE = `task=add&algo=scope&iters=1&seed=1&backend=auto&${SMALL}`;

async function backends(page: import('@playwright/test').Page) {
  return page.evaluate(async () => {
    const s: TrainingSession = await window.scopeRunner!.ready;
    const it = await s.stepOnce();
    return {
      policy: s.backendInfo as BackendInfo,
      prm: s.prmBackendInfo as BackendInfo,
      described: (await s.policyService.describe()).backend,
      loss: it.metrics.loss,
    };
  });
}

test('auto measures both backends on SwiftShader when asked, takes the faster, caches it, and the PRM follows', async ({
  page,
}) => {
  test.setTimeout(600_000);
  await openRunner(page, `${BASE}&remeasure=1&probe=${PROBE}`);
  const first = await backends(page);
  console.log(JSON.stringify(first.policy));
  const m = first.policy.measurement!;
  expect(m).toBeDefined();
  expect(m.cached).toBe(false);
  expect(m.adapter).toMatch(/swiftshader/i);
  expect(m.workload).toMatch(/update step 2x8 \+ decode 2x2 tokens/);
  // Both ran; the choice is the faster by the measured totals (ties within 5% go to wasm).
  expect(m.wasm.ok && m.webgpu.ok).toBe(true);
  if (!m.wasm.ok || !m.webgpu.ok) return;
  const faster = m.webgpu.totalMs < m.wasm.totalMs * 0.95 ? 'webgpu' : 'wasm';
  expect(first.policy.backend).toBe(faster);
  expect(first.described).toBe(faster);
  expect(first.policy.requested).toBe('auto');
  expect(first.policy.note).toMatch(
    new RegExp(`auto chose ${faster} by measurement: webgpu [0-9.]+ ms .* vs wasm [0-9.]+ ms`),
  );
  expect(first.policy.note).toMatch(/measured \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  expect(first.prm.backend).toBe(faster);
  expect(first.prm.note).toMatch(/as the policy worker chose/);
  expect(Number.isFinite(first.loss)).toBe(true);

  // Same origin, same configuration, no remeasure: the cached decision, said to be cached.
  await openRunner(page, `${BASE}&probe=${PROBE}`);
  const again = await backends(page);
  expect(again.policy.backend).toBe(faster);
  expect(again.policy.measurement?.cached).toBe(true);
  expect(again.policy.measurement?.measuredAt).toBe(m.measuredAt);
  expect(again.policy.note).toMatch(/cached for this adapter/);

  // Another probe is another key: not cached, so the software-adapter rule (wasm, unmeasured).
  await openRunner(page, `${BASE}&probe=${OTHER_PROBE}`);
  const other = await backends(page);
  expect(other.policy.backend).toBe('wasm');
  expect(other.policy.measurement).toBeUndefined();
  expect(other.policy.note).toMatch(/software WebGPU adapter/);
});

test('the teaching page with ?remeasure=1 measures (the default probe, SwiftShader) and shows why in the status bar', async ({
  page,
}) => {
  test.setTimeout(600_000);
  await page.goto(
    '/?remeasure=1#task=add&algo=grpo&iters=2&promptsPerIter=2&groupSize=4&evalN=4&backend=auto',
  );
  await page.locator('#step').click();
  await expect(page.locator('sl-status')).toContainText(
    /auto chose wasm by measurement: webgpu .* vs wasm .* wasm [0-9.]+x faster/,
    {
      timeout: 480_000,
    },
  );
  await expect(page.locator('sl-status')).toContainText(/probe: update step 64x32 \+ decode 64x16 tokens/);
  await expect(page.locator('[data-status=backend]')).toContainText('wasm');
  const m = await page.evaluate(() => window.scopeLabSession!.backendInfo?.measurement);
  expect(m?.cached).toBe(false);
  expect(m?.wasm.ok && m.webgpu.ok).toBe(true);
});
