import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { gemmAvailable, gemmCalls, installGemm, setGemmMode } from '../src/core/gemm';
import { GEMM_EXACT_WASM, GEMM_FMA_WASM } from '../src/core/gemm-wasm';
import { Rng } from '../src/core/rng';
import * as tf from '../src/core/tf';
import { useBackend } from '../src/node/backend';

type Mode = Parameters<typeof setGemmMode>[0];

/** Seeded normal values, every 37th an exact -0. */
function values(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (i % 37 === 0 ? -0 : rng.normal()));
}

/** C = op(A) @ op(B) in float64, from row-major data: the reference. */
function reference(
  a: Float32Array,
  b: Float32Array,
  M: number,
  K: number,
  N: number,
  tA = false,
  tB = false,
) {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[tA ? k * M + i : i * K + k] * b[tB ? j * K + k : k * N + j];
      out[i * N + j] = s;
    }
  return out;
}

/** Largest |x - ref| over the largest |ref|. */
function relErr(x: ArrayLike<number>, ref: Float64Array): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(x[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return scale > 0 ? err / scale : err;
}

function product(mode: Mode, a: tf.Tensor, b: tf.Tensor, tA = false, tB = false): Float32Array {
  setGemmMode(mode);
  const c = tf.matMul(a, b, tA, tB);
  const out = c.dataSync() as Float32Array;
  c.dispose();
  return out;
}

/** Every path of the kernel: 4 x 8 blocks, the 4-column and single-column tails, leftover rows,
 *  K = 1, one to three leftover rows, K in chunks of 256 with a partial last chunk; and the model's own products (d = 64, MLP 256, vocabulary 17, batch x time 1024). */
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [4, 1, 8],
  [5, 3, 13],
  [7, 9, 4],
  [9, 16, 23],
  [33, 65, 17],
  [64, 1024, 256],
  [1024, 64, 192],
  [1026, 64, 17],
  [1, 1024, 256],
  [2, 64, 21],
  [7, 300, 13],
  [64, 3072, 256],
];

describe('gemm: our wasm matMul kernel (src/core/gemm.ts)', async () => {
  await useBackend('wasm'); // installs the kernel
  installGemm(); // a second install changes nothing
  const rng = new Rng('gemm-test');

  it('exact mode is bit-identical to tfjs-wasm on every path, and right against float64', () => {
    for (const [M, K, N] of SHAPES) {
      const av = values(rng, M * K);
      const bv = values(rng, K * N);
      const a = tf.tensor2d(av, [M, K]);
      const b = tf.tensor2d(bv, [K, N]);
      gemmCalls.ours = 0;
      gemmCalls.tfjs = 0;
      const ours = product('exact', a, b);
      expect(gemmCalls).toEqual({ ours: 1, tfjs: 0 });
      const theirs = product('off', a, b);
      expect(gemmCalls).toEqual({ ours: 1, tfjs: 1 });
      // Bit patterns: a -0 against a 0 counts as a difference too.
      const x = new Uint32Array(ours.buffer);
      const y = new Uint32Array(theirs.buffer);
      expect(x.length).toBe(M * N);
      expect(
        x.findIndex((v, i) => v !== y[i]),
        `[${M},${K}] @ [${K},${N}]`,
      ).toBe(-1);
      expect(relErr(ours, reference(av, bv, M, K, N))).toBeLessThan(1e-5);
      tf.dispose([a, b]);
    }
    setGemmMode('exact');
  });

  it('fma mode (where the runtime has relaxed SIMD) is within float tolerance', () => {
    if (!gemmAvailable('fma')) {
      expect(() => setGemmMode('fma')).toThrow(/relaxed SIMD/);
      return;
    }
    for (const [M, K, N] of SHAPES) {
      const av = values(rng, M * K);
      const bv = values(rng, K * N);
      const out = product('fma', tf.tensor2d(av, [M, K]), tf.tensor2d(bv, [K, N]));
      expect(relErr(out, reference(av, bv, M, K, N))).toBeLessThan(1e-5);
    }
    setGemmMode('exact');
  });

  it('leaves transposed and batched products to tfjs, with the right results', () => {
    const [M, K, N] = [6, 10, 9];
    const av = values(rng, M * K);
    const bv = values(rng, K * N);
    const refs = [...Array(3).fill(reference(av, bv, M, K, N)), reference(av, bv, 1, K, N, true)];
    const cases: [tf.Tensor, tf.Tensor, boolean, boolean][] = [
      [tf.tensor2d(av, [M, K]).transpose(), tf.tensor2d(bv, [K, N]), true, false],
      [tf.tensor2d(av, [M, K]), tf.tensor2d(bv, [K, N]).transpose(), false, true],
      [tf.tensor3d(av, [1, M, K]), tf.tensor3d(bv, [1, K, N]), false, false],
      // A transposed [K, 1] is a row in memory, but tfjs's transposed path sums in another order.
      [tf.tensor2d(av.subarray(0, K), [K, 1]), tf.tensor2d(bv, [K, N]), true, false],
    ];
    for (const [n, [a, b, tA, tB]] of cases.entries()) {
      gemmCalls.tfjs = 0;
      gemmCalls.ours = 0;
      expect(relErr(product('exact', a, b, tA, tB), refs[n])).toBeLessThan(1e-5);
      expect(gemmCalls).toEqual({ ours: 0, tfjs: 1 });
    }
  });

  it('refuses an unknown mode in one line', () => {
    expect(() => setGemmMode('fast' as Mode)).toThrow("unknown gemm mode 'fast' (expected exact, fma, off)");
  });

  it('ships modules that only import memory and export gemm, with no data to write', () => {
    for (const b64 of [GEMM_EXACT_WASM, GEMM_FMA_WASM]) {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const sections: number[] = [];
      for (let p = 8; p < bytes.length; ) {
        sections.push(bytes[p++]);
        let size = 0;
        for (let shift = 0; ; shift += 7) {
          const byte = bytes[p++];
          size |= (byte & 127) << shift;
          if (!(byte & 128)) break;
        }
        p += size;
      }
      expect(sections).not.toContain(11); // a data section would be written into tfjs's heap
      if (!WebAssembly.validate(bytes)) continue; // fma without relaxed SIMD: checked by the build
      const mod = new WebAssembly.Module(bytes);
      expect(WebAssembly.Module.imports(mod)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
      expect(WebAssembly.Module.exports(mod)).toEqual([{ name: 'gemm', kind: 'function' }]);
    }
  });

  it('ships what kernels/gemm.c builds to', () => {
    // clang-16, lld-16 and llvm-16 are installed by .ci/run; the script also checks for stack and data use.
    const out = execFileSync('bash', ['scripts/build-kernels.sh', '--check'], { encoding: 'utf8' });
    expect(out).toMatch(/matches kernels\/gemm\.c/);
  });
});
