/** The benchmark in Node: backend set-up, checkpoints from disk, the process heap. */
import path from 'node:path';
import { type NodeBackend, useBackend } from '../node/backend';
import { readCheckpoint } from '../node/files';
import { startGradientThread } from '../node/gradient-thread';
import { type BenchOptions, type BenchResult, runBench } from './measure';

const CK_DIR = path.join('public', 'checkpoints', 'add');

export async function benchNode(
  backend: NodeBackend,
  opts: Partial<BenchOptions>,
  log: (m: string) => void,
): Promise<BenchResult> {
  const name = await useBackend(backend);
  return runBench(
    {
      runtime: 'node',
      backend: name,
      threads: 1,
      policyCk: readCheckpoint(CK_DIR, 'policy'),
      prmCk: readCheckpoint(CK_DIR, 'prm'),
      heapMB: () => process.memoryUsage().heapUsed / 2 ** 20,
      log,
      now: () => performance.now(),
      startGradientHelper: (checkpoint) => startGradientThread({ backend, task: 'add', checkpoint }),
    },
    opts,
  );
}
