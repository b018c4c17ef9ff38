import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng';
import * as tf from '../src/core/tf';
import {
  installWasmKernels,
  kernelCalls,
  kernelMode,
  kernelModeAvailable,
  setKernelMode,
  wasmKernelsActive,
} from '../src/core/wasm-kernels';
import { KERNELS_EXACT_WASM, KERNELS_FMA_WASM } from '../src/core/wasm-kernels-binary';
import { useBackend } from '../src/node/backend';

type Mode = Parameters<typeof setKernelMode>[0];

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

/** The first element whose bit pattern differs (-1: none); a -0 against a 0 counts as a difference. */
function firstBitDifference(x: Float32Array, y: Float32Array): number {
  const a = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const b = new Uint32Array(y.buffer, y.byteOffset, y.length);
  return a.length === b.length ? a.findIndex((v, i) => v !== b[i]) : 0;
}

function product(mode: Mode, a: tf.Tensor, b: tf.Tensor, tA = false, tB = false): Float32Array {
  setKernelMode(mode);
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

describe('our wasm kernels for tfjs (src/core/wasm-kernels.ts)', async () => {
  await useBackend('wasm'); // installs the kernel
  installWasmKernels(); // a second install changes nothing
  const rng = new Rng('wasm-kernels-test');

  it('exact mode is bit-identical to tfjs-wasm on every path, and right against float64', () => {
    for (const [M, K, N] of SHAPES) {
      const av = values(rng, M * K);
      const bv = values(rng, K * N);
      const a = tf.tensor2d(av, [M, K]);
      const b = tf.tensor2d(bv, [K, N]);
      kernelCalls.ours = 0;
      kernelCalls.tfjs = 0;
      const ours = product('exact', a, b);
      expect(kernelCalls).toEqual({ ours: 1, tfjs: 0 });
      const theirs = product('off', a, b);
      expect(kernelCalls).toEqual({ ours: 1, tfjs: 1 });
      expect(ours.length).toBe(M * N);
      expect(firstBitDifference(ours, theirs), `[${M},${K}] @ [${K},${N}]`).toBe(-1);
      expect(relErr(ours, reference(av, bv, M, K, N))).toBeLessThan(1e-5);
      tf.dispose([a, b]);
    }
    setKernelMode('exact');
  });

  it('fma mode (where the runtime has relaxed SIMD) is within float tolerance', () => {
    if (!kernelModeAvailable('fma')) {
      expect(() => setKernelMode('fma')).toThrow(/relaxed SIMD/);
      return;
    }
    for (const [M, K, N] of SHAPES) {
      const av = values(rng, M * K);
      const bv = values(rng, K * N);
      const out = product('fma', tf.tensor2d(av, [M, K]), tf.tensor2d(bv, [K, N]));
      expect(relErr(out, reference(av, bv, M, K, N))).toBeLessThan(1e-5);
    }
    setKernelMode('exact');
  });

  it("takes transposed and batched products in tfjs's own order (k in blocks of 48), bit-identical", () => {
    /** [a shape, b shape, transposeA, transposeB]; M, K, N from them. K up to 100 crosses two block
     *  edges; the decode's q k^T and att v per (sequence, head); column sums [K, 1]^T @ x. */
    const cases: [number[], number[], boolean, boolean][] = [
      [[7, 5], [9, 5], false, true],
      [[5, 7], [5, 9], true, false],
      [[5, 7], [9, 5], true, true],
      [[3, 7, 5], [3, 5, 9], false, false],
      [[2, 100, 7], [2, 9, 100], true, true],
      [[1, 6, 10], [1, 10, 9], false, false],
      [[64, 4, 1, 16], [64, 4, 41, 16], false, true],
      [[64, 4, 1, 70], [64, 4, 70, 16], false, false],
      [[1024, 1], [1024, 64], true, false],
    ];
    for (const [as, bs, tA, tB] of cases) {
      const r = as.length;
      const [M, K] = tA ? [as[r - 1], as[r - 2]] : [as[r - 2], as[r - 1]];
      const N = tB ? bs[r - 2] : bs[r - 1];
      const batch = as.slice(0, -2).reduce((n, d) => n * d, 1);
      const av = values(rng, batch * M * K);
      const bv = values(rng, batch * K * N);
      const a = tf.tensor(av, as);
      const b = tf.tensor(bv, bs);
      kernelCalls.ours = 0;
      kernelCalls.tfjs = 0;
      const ours = product('exact', a, b, tA, tB);
      const theirs = product('off', a, b, tA, tB);
      expect(kernelCalls).toEqual({ ours: 1, tfjs: 1 });
      expect(ours.length).toBe(batch * M * N);
      expect(firstBitDifference(ours, theirs), `${as} @ ${bs}, transposes ${tA} ${tB}`).toBe(-1);
      for (let p = 0; p < batch; p++) {
        const ref = reference(
          av.subarray(p * M * K, (p + 1) * M * K),
          bv.subarray(p * K * N, (p + 1) * K * N),
          M,
          K,
          N,
          tA,
          tB,
        );
        expect(relErr(ours.subarray(p * M * N, (p + 1) * M * N), ref)).toBeLessThan(1e-5);
      }
      tf.dispose([a, b]);
    }
    setKernelMode('exact');
  });

  it('leaves broadcast batches and other dtypes to tfjs', () => {
    const cases: [tf.Tensor, tf.Tensor][] = [
      [tf.tensor3d(values(rng, 2 * 3 * 4), [2, 3, 4]), tf.tensor3d(values(rng, 4 * 5), [1, 4, 5])],
      [tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor2d([5, 6, 7, 8], [2, 2], 'int32')],
    ];
    for (const [a, b] of cases) {
      kernelCalls.tfjs = 0;
      kernelCalls.ours = 0;
      try {
        tf.matMul(a, b).dispose();
      } catch {
        // tfjs-wasm refuses int32 products itself: what matters is that ours did not take it
      }
      expect(kernelCalls).toEqual({ ours: 0, tfjs: 1 });
    }
  });

  it('makes an empty sum (K = 0) zeros, where tfjs-wasm leaves the output unwritten', () => {
    for (const [tA, tB] of [
      [false, false],
      [true, false],
      [false, true],
    ]) {
      const a = tA ? tf.zeros([0, 2]) : tf.zeros([2, 0]);
      const b = tB ? tf.zeros([3, 0]) : tf.zeros([0, 3]);
      kernelCalls.ours = 0;
      // Fill the heap where the output will go with non-zeros first, so unwritten memory would show.
      tf.fill([64], 7).dispose();
      const c = tf.matMul(a, b, tA, tB);
      expect(c.shape).toEqual([2, 3]);
      expect(Array.from(c.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
      expect(kernelCalls.ours).toBe(1);
      tf.dispose([a, b, c]);
    }
  });

  it("takes attention's per-group convolutions, bit-identical to tfjs's depthwise convolution", () => {
    // [I, K, G, J]: the model's four kinds (K a head width or a sequence length; G = sequences x
    // heads), G not a multiple of the 16 groups packed per pass, and odd sizes everywhere.
    const shapes: [number, number, number, number][] = [
      [32, 16, 128, 32],
      [32, 32, 128, 16],
      [49, 49, 256, 16],
      [9, 16, 20, 9],
      [3, 5, 7, 9],
      [1, 1, 1, 1],
      [5, 64, 17, 3],
    ];
    for (const [I, K, G, J] of shapes) {
      const av = values(rng, I * K * G);
      const bv = values(rng, K * G * J);
      const x = tf.tensor4d(av, [I, 1, K, G]);
      const f = tf.tensor4d(bv, [1, K, G, J]);
      const conv = (mode: Mode) => {
        setKernelMode(mode);
        const out = tf.depthwiseConv2d(x, f, 1, 'valid');
        expect(out.shape).toEqual([I, 1, 1, G * J]);
        const data = out.dataSync() as Float32Array;
        out.dispose();
        return data;
      };
      kernelCalls.ours = 0;
      kernelCalls.tfjs = 0;
      const ours = conv('exact');
      const theirs = conv('off');
      expect(kernelCalls).toEqual({ ours: 1, tfjs: 1 });
      expect(firstBitDifference(ours, theirs), `[${I},${K},${G},${J}]`).toBe(-1);
      // And it is the per-group product, against float64: out[i, g, j] = sum_k a[i, k, g] b[k, g, j].
      let worst = 0;
      for (let i = 0; i < I; i++)
        for (let g = 0; g < G; g++)
          for (let j = 0; j < J; j++) {
            let sum = 0;
            for (let k = 0; k < K; k++) sum += av[(i * K + k) * G + g] * bv[(k * G + g) * J + j];
            worst = Math.max(worst, Math.abs(ours[(i * G + g) * J + j] - sum) / (1 + Math.abs(sum)));
          }
      expect(worst).toBeLessThan(1e-5);
      tf.dispose([x, f]);
    }
    setKernelMode('exact');
  });

  it('leaves every other convolution to tfjs', () => {
    const x = tf.tensor4d(values(rng, 2 * 3 * 6 * 4), [2, 3, 6, 4]);
    const cases: [tf.Tensor4D, tf.Tensor4D, number, 'valid' | 'same'][] = [
      [x, tf.tensor4d(values(rng, 2 * 6 * 4 * 2), [2, 6, 4, 2]), 1, 'valid'], // filter height 2
      [x.slice([0, 0, 0, 0], [2, 1, 6, 4]), tf.tensor4d(values(rng, 3 * 4 * 2), [1, 3, 4, 2]), 1, 'valid'], // narrower filter
      [x.slice([0, 0, 0, 0], [2, 1, 6, 4]), tf.tensor4d(values(rng, 6 * 4 * 2), [1, 6, 4, 2]), 1, 'same'],
      [x.slice([0, 0, 0, 0], [2, 1, 6, 4]), tf.tensor4d(values(rng, 6 * 4 * 2), [1, 6, 4, 2]), 2, 'valid'],
      [x, tf.tensor4d(values(rng, 6 * 4 * 2), [1, 6, 4, 2]), 1, 'valid'], // input height 3
    ];
    for (const [input, filter, stride, pad] of cases) {
      kernelCalls.ours = 0;
      kernelCalls.tfjs = 0;
      tf.depthwiseConv2d(input, filter, stride, pad).dispose();
      expect(kernelCalls).toEqual({ ours: 0, tfjs: 1 });
    }
  });

  it('concatenates two tensors exactly as tfjs does; three, or an empty one, go to tfjs', () => {
    const cases: [number[], number[], number, 'float32' | 'int32', number][] = [
      [[64, 4, 9, 16], [64, 4, 1, 16], 2, 'float32', 1], // the KV cache's append
      [[3, 5], [2, 5], 0, 'float32', 1],
      [[3, 5], [3, 7], -1, 'int32', 1],
      [[2, 3, 4], [2, 0, 4], 1, 'float32', 0], // an empty input
      [[2, 0, 4], [2, 3, 4], 1, 'float32', 0],
    ];
    for (const [xs, ys, axis, dtype, oursCalls] of cases) {
      const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
      const x = tf.tensor(
        Float32Array.from(values(rng, n(xs)), (v) => (dtype === 'int32' ? Math.round(v * 100) : v)),
        xs,
        dtype,
      );
      const y = tf.tensor(
        Float32Array.from(values(rng, n(ys)), (v) => (dtype === 'int32' ? Math.round(v * 100) : v)),
        ys,
        dtype,
      );
      const cat = (mode: Mode) => {
        setKernelMode(mode);
        const out = tf.concat([x, y], axis);
        const r = { shape: out.shape, data: Array.from(out.dataSync()) };
        out.dispose();
        return r;
      };
      kernelCalls.ours = 0;
      kernelCalls.tfjs = 0;
      const ours = cat('exact');
      expect(kernelCalls.ours).toBe(oursCalls);
      const theirs = cat('off');
      expect(ours).toEqual(theirs);
      // And it is the concatenation: row b of the output is row b of x, then row b of y.
      const a = axis < 0 ? xs.length + axis : axis;
      const outer = n(xs.slice(0, a));
      const [nx, ny] = [n(xs.slice(a)), n(ys.slice(a))];
      const xd = Array.from(x.dataSync());
      const yd = Array.from(y.dataSync());
      const expected = Array.from({ length: outer }, (_, b) => [
        ...xd.slice(b * nx, (b + 1) * nx),
        ...yd.slice(b * ny, (b + 1) * ny),
      ]).flat();
      expect(ours.data).toEqual(expected);
      tf.dispose([x, y]);
    }
    kernelCalls.ours = 0;
    kernelCalls.tfjs = 0;
    setKernelMode('exact');
    tf.concat([tf.ones([2, 2]), tf.ones([2, 2]), tf.ones([2, 2])], 1).dispose();
    expect(kernelCalls).toEqual({ ours: 0, tfjs: 1 });
    // bool tensors are one byte per element in tfjs-wasm's heap, not four: tfjs's.
    const yes = tf.concat([tf.tensor1d([true, false], 'bool'), tf.tensor1d([true], 'bool')]);
    expect(Array.from(yes.dataSync())).toEqual([1, 0, 1]);
    expect(kernelCalls).toEqual({ ours: 0, tfjs: 2 });
    yes.dispose();
  });

  it("frees the scratch of the per-group products (the backend's memory does not grow)", () => {
    const x = tf.tensor4d(values(rng, 64 * 64 * 16), [64, 1, 64, 16]);
    const f = tf.tensor4d(values(rng, 64 * 16 * 4), [1, 64, 16, 4]);
    const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
    tf.depthwiseConv2d(x, f, 1, 'valid').dispose();
    const before = heap();
    // 300 calls x 256 KB of scratch: 75 MB if it were never freed.
    for (let n = 0; n < 300; n++) tf.depthwiseConv2d(x, f, 1, 'valid').dispose();
    expect(heap()).toBe(before);
    tf.dispose([x, f]);
  });

  it('says whether it serves the current backend, and in which mode', async () => {
    expect(kernelMode()).toBe('exact');
    expect(wasmKernelsActive()).toBe(true);
    setKernelMode('off');
    expect(kernelMode()).toBe('off');
    expect(wasmKernelsActive()).toBe(false);
    setKernelMode('exact');
    await useBackend('cpu');
    expect(wasmKernelsActive()).toBe(false);
    await useBackend('wasm');
    expect(wasmKernelsActive()).toBe(true);
  });

  it('refuses an unknown mode in one line', () => {
    expect(() => setKernelMode('fast' as Mode)).toThrow(
      "unknown kernel mode 'fast' (expected exact, fma, off)",
    );
  });

  it('ships modules that only import memory and export the four kernels, with no data to write', () => {
    for (const b64 of [KERNELS_EXACT_WASM, KERNELS_FMA_WASM]) {
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
      expect(WebAssembly.Module.exports(mod).map((e) => `${e.kind} ${e.name}`)).toEqual([
        'function gemm',
        'function group_contract',
        'function batch_matmul',
        'function concat2',
      ]);
    }
  });

  it('ships what kernels/wasm-kernels.c builds to', () => {
    // clang-16, lld-16 and llvm-16 are installed by .ci/run; the script also checks for stack and data use.
    const out = execFileSync('bash', ['scripts/build-kernels.sh', '--check'], { encoding: 'utf8' });
    expect(out).toMatch(/matches kernels\/wasm-kernels\.c/);
  });
});
