/** The benchmark result as a human-readable table (pure string formatting). */
import type { BenchResult, OpTime, ShardUse } from './measure';
import type { Spread } from './stats';

export interface PeerResult {
  sftStepMs: number;
  threads: number;
  torch: string;
  blas: string;
  /** The peer's best KV-cache decode (its own best thread count, `decodeThreads`, not the SFT step's). */
  decodeTokensPerSec?: { kvCache: number; noCache: number | null };
  decodeThreads?: number;
  [k: string]: unknown;
}

const spreadText = (s: Spread | undefined) =>
  s ? `median ${s.median}  [min ${s.min}, q1 ${s.q1}, q3 ${s.q3}, max ${s.max}] n=${s.n}` : '';

function profileLines(title: string, ops: OpTime[] | undefined, top = 15): string[] {
  if (!ops) return [];
  const total = ops.reduce((a, o) => a + o.ms, 0);
  return [
    `${title}: ${total.toFixed(1)} ms kernel time (tf.profile, median of runs)`,
    ...ops
      .slice(0, top)
      .map(
        (o) =>
          `  ${o.ms.toFixed(2).padStart(8)} ms ${((100 * o.ms) / total).toFixed(0).padStart(3)}%  ${String(o.calls).padStart(4)}x  ${o.kernel}`,
      ),
  ];
}

export function formatReport(
  r: BenchResult & { peer?: PeerResult | null; backendChoice?: { note?: string } },
): string {
  const m = r.model;
  const lines = [
    `scope-lab bench: ${r.runtime} / ${r.backend}, ${r.threads} thread(s)` +
      (r.crossOriginIsolated === null ? '' : `, crossOriginIsolated=${r.crossOriginIsolated}`),
    ...(r.backendChoice?.note ? [`backend: ${r.backendChoice.note}`] : []),
    `model${m.preset && m.preset !== 'default' ? ` (${m.preset})` : ''}: ${m.nLayer} layers, d=${m.dModel}, ${m.nHead} heads, mlp ${m.dMlp}, vocab ${m.vocabSize}, block ${m.blockSize}, ${m.params} params`,
  ];
  if (r.decodeTokensPerSec && r.decodeMs && r.sizes.decode) {
    const s = r.sizes.decode;
    lines.push(
      `decode (${s.batch} seqs, prefix <= ${s.prefixLen}, ${s.newTokens} new tokens):`,
      `  KV cache   ${String(r.decodeTokensPerSec.kvCache).padStart(8)} tok/s   ms/run ${spreadText(r.decodeMs.kvCache)}`,
      r.decodeMs.noCache
        ? `  no cache   ${String(r.decodeTokensPerSec.noCache).padStart(8)} tok/s   ms/run ${spreadText(r.decodeMs.noCache)}`
        : '  no cache   (skipped)',
      `  speed-up   ${r.decodeTokensPerSec.speedup ?? '-'}x`,
    );
  }
  if (r.sftStepMs !== undefined) {
    lines.push(
      `sft step (${r.sizes.sftBatch} x ${r.sizes.sftSeqLen}, Adam): ms ${spreadText(r.sftStepMsSpread)}`,
    );
    if (r.shards?.sft) lines.push(`  ${shardText(r.shards.sft)}`);
  }
  if (r.rlIterationMs && r.rlIterationMsSpread) {
    lines.push(
      `scope iteration (P=${r.sizes.promptsPerIter}, G=${r.sizes.groupSize}), ${r.rlIters} iterations, ms:`,
    );
    for (const k of ['total', 'generate', 'prm', 'rectify', 'update'] as const)
      lines.push(`  ${k.padEnd(9)} ${spreadText(r.rlIterationMsSpread[k])}`);
    if (r.shards?.rl) lines.push(`  update ${shardText(r.shards.rl)}`);
    lines.push(`tensors growth per iteration: ${r.tensorsGrowthPerIter} (over ${r.growthIters})`);
  }
  if (r.kernels)
    lines.push(
      `wasm kernels: ${r.kernels.mode} (calls served: ours ${r.kernels.ours}, tfjs's ${r.kernels.tfjs})`,
    );
  lines.push(
    `peak JS heap: ${r.peakHeapMB ?? 'n/a'} MB, tensors: ${r.peakTensorMB} MB, wasm memory: ${r.peakWasmMemoryMB ?? 'n/a'} MB`,
  );
  lines.push(
    ...profileLines('sft step kernels', r.sftProfile),
    ...profileLines('decode kernels', r.decodeProfile),
    ...profileLines('scope iteration kernels', r.rlProfile),
  );
  if (r.peer) {
    lines.push(
      `peer (PyTorch ${r.peer.torch}, ${r.peer.blas}, best at ${r.peer.threads} thread(s)): sft step ${r.peer.sftStepMs} ms` +
        (r.sftStepMs !== undefined ? ` -> ratio ${(r.sftStepMs / r.peer.sftStepMs).toFixed(2)}x` : ''),
    );
    if (r.peer.decodeTokensPerSec)
      lines.push(
        `peer decode${r.peer.decodeThreads ? ` (best at ${r.peer.decodeThreads} thread(s))` : ''}: KV cache ${r.peer.decodeTokensPerSec.kvCache} tok/s, no cache ${r.peer.decodeTokensPerSec.noCache} tok/s` +
          (r.decodeTokensPerSec
            ? ` -> ours/peer with KV cache ${(r.decodeTokensPerSec.kvCache / r.peer.decodeTokensPerSec.kvCache).toFixed(2)}x`
            : ''),
      );
  }
  return lines.join('\n');
}

const shardText = (u: ShardUse) =>
  `${u.shards} shard(s) per step; a gradient worker computed ${u.helperShards}`;
