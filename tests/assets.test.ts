/**
 * src/browser/assets.ts: every network fetch of a checkpoint is bounded in time (a stall ends it)
 * and in size (Content-Length first, then the bytes as they stream), and what arrives is validated
 * (finite values included) before a worker sees it. Served by a real local HTTP server.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchBounded, fetchCheckpoint } from '../src/browser/assets';
import { deserializeCheckpoint, serializeCheckpoint } from '../src/core/checkpoint';

const SHIPPED = path.join('public', 'checkpoints', 'add');
const policyJson = readFileSync(path.join(SHIPPED, 'policy.json'));
const policyBin = readFileSync(path.join(SHIPPED, 'policy.bin'));

/** The shipped policy with one NaN in `wte`, re-checksummed (so only the finite check can catch it). */
function nanPolicy() {
  const { manifest, tensors } = deserializeCheckpoint(policyJson.toString('utf8'), policyBin);
  tensors.get('wte')!.data[7] = Number.NaN;
  return serializeCheckpoint({
    ...manifest,
    tensors: [...tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data })),
  });
}

let server: Server;
let base: URL;
/** Responses still open when the test ends (stalled ones). */
const open = new Set<ServerResponse>();
let aborted = 0;

beforeAll(async () => {
  const nan = nanPolicy();
  server = createServer((req, res) => {
    open.add(res);
    res.on('close', () => {
      open.delete(res);
      if (!res.writableEnded) aborted++;
    });
    const route = req.url ?? '';
    if (route === '/stall-headers') return; // never answers
    if (route === '/stall-body') {
      res.writeHead(200, { 'content-length': '1000' });
      res.write(Buffer.alloc(10)); // then nothing
      return;
    }
    if (route === '/huge-declared') {
      res.writeHead(200, { 'content-length': String(1024 ** 3) });
      res.write(Buffer.alloc(1024)); // a real server would go on for 1 GiB
      return;
    }
    if (route === '/huge-chunked') {
      res.writeHead(200); // chunked: no length declared
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return;
    }
    const files: Record<string, Buffer | string> = {
      '/ok/checkpoints/add/policy.json': policyJson,
      '/ok/checkpoints/add/policy.bin': policyBin,
      '/nan/checkpoints/add/policy.json': nan.manifestJson,
      '/nan/checkpoints/add/policy.bin': Buffer.from(nan.blob),
    };
    if (route in files) return res.end(files[route]);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
});

afterAll(async () => {
  for (const res of open) res.destroy();
  await new Promise((r) => server.close(r));
});

const limits = { stallMs: 300, maxBytes: 2 * 1024 * 1024 };

describe('bounded checkpoint fetches', () => {
  it('a server that never answers, or stops mid-body, ends in an error within the stall timeout', async () => {
    for (const route of ['stall-headers', 'stall-body']) {
      const t0 = Date.now();
      await expect(fetchBounded(new URL(route, base), 'the policy checkpoint', limits)).rejects.toThrow(
        new RegExp(`could not load the policy checkpoint: ${base.href}${route} sent nothing for 0.3 s`),
      );
      expect(Date.now() - t0).toBeLessThan(3000);
    }
  });

  it('an oversized body is refused by its Content-Length before it is read, or once the bytes pass the cap', async () => {
    await expect(fetchBounded(new URL('huge-declared', base), 'x', limits)).rejects.toThrow(
      /is 1024.0 MiB, more than the 2.0 MiB a checkpoint may be/,
    );
    const before = aborted;
    await expect(fetchBounded(new URL('huge-chunked', base), 'x', limits)).rejects.toThrow(
      /sent more than the 2.0 MiB a checkpoint may be/,
    );
    // The download was cut off (the connection closed), not read to the end.
    await new Promise((r) => setTimeout(r, 100));
    expect(aborted).toBeGreaterThan(before);
  });

  it('a good checkpoint loads; a NaN one (valid checksum) and a missing one are refused by name', async () => {
    const ck = await fetchCheckpoint(new URL('ok/', base), 'add', 'policy', limits);
    expect(Buffer.from(ck.blob).equals(policyBin)).toBe(true);
    await expect(fetchCheckpoint(new URL('nan/', base), 'add', 'policy', limits)).rejects.toThrow(
      /the policy checkpoint at .*\/nan\/checkpoints\/add\/policy.bin is unusable: tensor 'wte' holds NaN at element 7/,
    );
    await expect(fetchCheckpoint(new URL('ok/', base), 'arith', 'policy', limits)).rejects.toThrow(
      /answered 404/,
    );
  });
});
