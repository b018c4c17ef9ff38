/**
 * tfjs-wasm's 2-D matMul through our own kernel (kernels/gemm.c), installed over the wasm backend's
 * `BatchMatMul`: plain [M, K] @ [K, N] float32 products go to the kernel, everything else (transpose
 * flags, batch dimensions, other dtypes) to tfjs's own, unchanged. (tfjs's transposed path sums in
 * another order, so taking a transposed [K, 1] as the row it is would not be bit-identical.)
 *
 * Modes: `exact` (the default) multiplies and adds separately in XNNPACK's order, so every result is
 * bit-identical to tfjs's kernel (tests/gemm.test.ts), only faster; `fma` fuses them with relaxed
 * SIMD (faster still, within float tolerance, where the runtime has relaxed SIMD); `off` is tfjs's
 * kernel alone (for A/B runs: `npm run bench -- --gemm off`). docs/performance.md has the numbers.
 *
 * The kernel's module imports the backend's own memory and reads and writes tensors where tfjs keeps
 * them (`memoryOffset`), so nothing is copied. Not used when that memory is shared (tfjs's threaded
 * build, which our workers never load): tfjs's kernel runs there.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { GEMM_EXACT_WASM, GEMM_FMA_WASM } from './gemm-wasm';
import * as tf from './tf';

export const GEMM_MODES = ['exact', 'fma', 'off'] as const;
export type GemmMode = (typeof GEMM_MODES)[number];

type GemmFn = (a: number, b: number, c: number, M: number, K: number, N: number) => void;

const BYTES = { exact: GEMM_EXACT_WASM, fma: GEMM_FMA_WASM };
let mode: GemmMode = 'exact';
let tfjsKernel: tf.KernelConfig | null = null;
/** Per backend instance and mode: the kernel bound to its memory, or null where it cannot run. */
const bound = new WeakMap<object, Partial<Record<'exact' | 'fma', GemmFn | null>>>();
const modules: Partial<Record<'exact' | 'fma', WebAssembly.Module | null>> = {};

function decode(base64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** The compiled module of a build, or null where the runtime cannot validate it (no relaxed SIMD). */
function moduleFor(m: 'exact' | 'fma'): WebAssembly.Module | null {
  if (!(m in modules)) {
    const bytes = decode(BYTES[m]);
    modules[m] = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return modules[m] ?? null;
}

/** Whether this runtime can run a mode (`fma` needs relaxed SIMD: Chromium; Node only with a flag). */
export function gemmAvailable(m: GemmMode): boolean {
  return m === 'off' || moduleFor(m) !== null;
}

/** Choose the mode for every later matMul on wasm; a mode this runtime cannot run is an error. */
export function setGemmMode(m: GemmMode): void {
  if (!GEMM_MODES.includes(m))
    throw new Error(`unknown gemm mode '${m}' (expected ${GEMM_MODES.join(', ')})`);
  if (!gemmAvailable(m))
    throw new Error(`gemm mode '${m}' needs WebAssembly relaxed SIMD, which this runtime lacks`);
  mode = m;
}

export function gemmMode(): GemmMode {
  return mode;
}

/** How many 2-D products each kernel computed since the last reset (the bench reports the split). */
export const gemmCalls = { ours: 0, tfjs: 0 };

function kernelFor(backend: BackendWasm, m: 'exact' | 'fma'): GemmFn | null {
  const perMode = bound.get(backend) ?? {};
  bound.set(backend, perMode);
  if (!(m in perMode)) {
    const memory = (backend.wasm as unknown as { asm?: { memory?: unknown } }).asm?.memory;
    const mod = moduleFor(m);
    const usable =
      mod !== null &&
      memory instanceof WebAssembly.Memory &&
      !(typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer);
    perMode[m] = usable ? (new WebAssembly.Instance(mod, { env: { memory } }).exports.gemm as GemmFn) : null;
  }
  return perMode[m] ?? null;
}

function batchMatMul(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const tfjs = tfjsKernel!;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const attrs = args.attrs ?? {};
  const [M, K] = a.shape;
  const plain =
    mode !== 'off' &&
    !attrs.transposeA &&
    !attrs.transposeB &&
    a.shape.length === 2 &&
    b.shape.length === 2 &&
    a.dtype === 'float32' &&
    b.dtype === 'float32' &&
    K === b.shape[0] &&
    M * K * b.shape[1] > 0;
  const backend = args.backend as BackendWasm;
  const gemm = plain ? kernelFor(backend, mode as 'exact' | 'fma') : null;
  if (!gemm) {
    gemmCalls.tfjs++;
    return tfjs.kernelFunc(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  }
  gemmCalls.ours++;
  const N = b.shape[1];
  const out = backend.makeOutput([M, N], 'float32');
  const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  gemm(at(a), at(b), at(out), M, K, N);
  return out;
}

/**
 * Put the kernel in front of tfjs-wasm's `BatchMatMul` (once; later calls do nothing). Call it after
 * '@tensorflow/tfjs-backend-wasm' is imported, before or after the backend starts.
 */
export function installGemm(): void {
  if (tfjsKernel) return;
  const kernel = tf.getKernel(tf.BatchMatMul, 'wasm');
  if (!kernel)
    throw new Error(
      'installGemm: the wasm backend is not registered (import @tensorflow/tfjs-backend-wasm first)',
    );
  tfjsKernel = kernel;
  tf.unregisterKernel(tf.BatchMatMul, 'wasm');
  tf.registerKernel({ ...kernel, kernelFunc: batchMatMul as tf.KernelFunc });
}
