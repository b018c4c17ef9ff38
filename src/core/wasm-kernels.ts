/**
 * Our own kernels for tfjs-wasm (kernels/wasm-kernels.c), installed in front of three of the wasm backend's:
 * - `BatchMatMul`: every float32 product without batch broadcasting, in the order tfjs would have
 *   summed it: plain 2-D products as XNNPACK does (over k in order), transposed or batched ones as
 *   tfjs's own loop does (k in blocks of 48); other dtypes and broadcasting go to tfjs.
 * - `DepthwiseConv2dNative`: the one convolution the model runs, attention's per-group products
 *   (model.ts `groupContract`: input [I, 1, K, G], filter [1, K, G, J], stride 1, valid); any other
 *   convolution goes to tfjs.
 * - `Concat` of two float32 or int32 tensors (the KV cache's append), which tfjs does in JavaScript
 *   one row at a time; it moves bytes only, so it is exact.
 *
 * Modes: `exact` (the default) multiplies and adds separately in XNNPACK's order, so every result is
 * bit-identical to tfjs's kernel (tests/wasm-kernels.test.ts), only faster; `fma` fuses them with relaxed
 * SIMD (faster still, within float tolerance, where the runtime has relaxed SIMD); `off` is tfjs's
 * kernel alone (for A/B runs: `npm run bench -- --kernels off`). docs/performance.md has the numbers.
 *
 * The kernel's module imports the backend's own memory and reads and writes tensors where tfjs keeps
 * them (`memoryOffset`), so nothing is copied. Not used when that memory is shared (tfjs's threaded
 * build, which our workers never load): tfjs's kernel runs there.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from './tf';
import { KERNELS_EXACT_WASM, KERNELS_FMA_WASM } from './wasm-kernels-binary';

export const KERNEL_MODES = ['exact', 'fma', 'off'] as const;
export type KernelMode = (typeof KERNEL_MODES)[number];

/** The module's exports; arguments are byte offsets into the backend's memory and sizes. */
interface Kernels {
  gemm(a: number, b: number, c: number, M: number, K: number, N: number): void;
  batch_matmul(
    a: number,
    b: number,
    c: number,
    batch: number,
    M: number,
    K: number,
    N: number,
    tA: number,
    tB: number,
  ): void;
  group_contract(
    a: number,
    b: number,
    out: number,
    I: number,
    K: number,
    G: number,
    J: number,
    scratch: number,
  ): void;
  concat2(x: number, y: number, out: number, batch: number, nx: number, ny: number): void;
}

/** Groups the per-group kernel packs at a time (GB in kernels/wasm-kernels.c): its scratch is GB * (I * K + 16) floats. */
const GROUPS_PER_PASS = 16;

const BYTES = { exact: KERNELS_EXACT_WASM, fma: KERNELS_FMA_WASM };
let mode: KernelMode = 'exact';
/** tfjs's own kernels, which ours fall back to. */
let tfjsMatMul: tf.KernelConfig | null = null;
let tfjsConv: tf.KernelConfig | null = null;
let tfjsConcat: tf.KernelConfig | null = null;
/** Per backend instance and mode: the kernels bound to its memory, or null where they cannot run. */
const bound = new WeakMap<object, Partial<Record<'exact' | 'fma', Kernels | null>>>();
const modules: Partial<Record<'exact' | 'fma', WebAssembly.Module | null>> = {};

function decode(base64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/**
 * The compiled module of a build, or null where the runtime cannot validate it (no relaxed SIMD) or
 * will not compile it synchronously (Chromium's main thread refuses modules over 4 KB): tfjs's
 * kernels run there.
 */
function moduleFor(m: 'exact' | 'fma'): WebAssembly.Module | null {
  if (!(m in modules)) {
    const bytes = decode(BYTES[m]);
    try {
      modules[m] = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
    } catch {
      modules[m] = null;
    }
  }
  return modules[m] ?? null;
}

/** Whether this runtime can run a mode (`fma` needs relaxed SIMD: Chromium; Node only with a flag). */
export function kernelModeAvailable(m: KernelMode): boolean {
  return m === 'off' || moduleFor(m) !== null;
}

/** Choose the mode for every later matMul on wasm; a mode this runtime cannot run is an error. */
export function setKernelMode(m: KernelMode): void {
  if (!KERNEL_MODES.includes(m))
    throw new Error(`unknown kernel mode '${m}' (expected ${KERNEL_MODES.join(', ')})`);
  if (!kernelModeAvailable(m))
    throw new Error(`kernel mode '${m}' needs WebAssembly relaxed SIMD, which this runtime lacks`);
  mode = m;
}

export function kernelMode(): KernelMode {
  return mode;
}

/** How many calls each implementation served since the last reset (the bench reports the split). */
export const kernelCalls = { ours: 0, tfjs: 0 };

function kernelsFor(backend: BackendWasm): Kernels | null {
  if (mode === 'off') return null;
  let perMode = bound.get(backend);
  if (!perMode) {
    perMode = {};
    bound.set(backend, perMode);
  }
  if (!(mode in perMode)) {
    const memory = (backend.wasm as unknown as { asm?: { memory?: unknown } }).asm?.memory;
    const mod = moduleFor(mode);
    const usable =
      mod !== null &&
      memory instanceof WebAssembly.Memory &&
      !(typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer);
    perMode[mode] = usable
      ? (new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as Kernels)
      : null;
  }
  return perMode[mode] ?? null;
}

/**
 * Whether our kernels serve the current backend now (it must be wasm): false where tfjs's run
 * instead (`off`, shared memory, no synchronous compile). Workers report it with their backend.
 */
export function wasmKernelsActive(): boolean {
  return (
    tf.getBackend() === 'wasm' && tfjsMatMul !== null && kernelsFor(tf.backend() as BackendWasm) !== null
  );
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Where tfjs keeps a tensor's data in the backend's memory (bytes). */
const offsetOf = (backend: BackendWasm, t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;

/**
 * One call of a replaced kernel: ours where the inputs `fit` it and our module serves this backend,
 * tfjs's own otherwise; counted either way.
 */
function serve(
  args: KernelArgs,
  tfjs: tf.KernelConfig | null,
  fits: boolean,
  run: (ours: Kernels, backend: BackendWasm) => tf.TensorInfo,
): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const ours = fits ? kernelsFor(backend) : null;
  if (!ours) {
    kernelCalls.tfjs++;
    return tfjs!.kernelFunc(args) as tf.TensorInfo;
  }
  kernelCalls.ours++;
  return run(ours, backend);
}

function batchMatMul(args: KernelArgs): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const tA = Boolean(args.attrs?.transposeA);
  const tB = Boolean(args.attrs?.transposeB);
  const rank = a.shape.length;
  const outer = a.shape.slice(0, -2);
  const [M, K] = tA ? [a.shape[rank - 1], a.shape[rank - 2]] : [a.shape[rank - 2], a.shape[rank - 1]];
  const N = tB ? b.shape[rank - 2] : b.shape[rank - 1];
  const batch = tf.util.sizeFromShape(outer);
  const fits =
    a.dtype === 'float32' &&
    b.dtype === 'float32' &&
    rank >= 2 &&
    b.shape.length === rank &&
    outer.every((d, i) => d === b.shape[i]) && // no broadcasting
    K === (tB ? b.shape[rank - 1] : b.shape[rank - 2]) &&
    batch * M * N > 0; // K = 0 is the empty sum: zeros (tfjs-wasm's XNNPACK path leaves garbage)
  return serve(args, tfjsMatMul, fits, (ours, backend) => {
    const out = backend.makeOutput([...outer, M, N], 'float32');
    const [pa, pb, pc] = [offsetOf(backend, a), offsetOf(backend, b), offsetOf(backend, out)];
    // tfjs itself takes plain 2-D products to XNNPACK and everything else to its own loop: each has
    // its own order of summation, and ours follows the same one.
    if (rank === 2 && !tA && !tB) ours.gemm(pa, pb, pc, M, K, N);
    else ours.batch_matmul(pa, pb, pc, batch, M, K, N, tA ? 1 : 0, tB ? 1 : 0);
    return out;
  });
}

const ones = (v: unknown) => v == null || v === 1 || (Array.isArray(v) && v.every((x) => x === 1));

function depthwiseConv2d(args: KernelArgs): tf.TensorInfo {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs ?? {};
  const [I, H, K, G] = x.shape;
  const [fh, fk, fg, J] = filter.shape;
  const groupContract =
    x.shape.length === 4 &&
    filter.shape.length === 4 &&
    x.dtype === 'float32' &&
    filter.dtype === 'float32' &&
    H === 1 &&
    fh === 1 &&
    fk === K &&
    fg === G &&
    attrs.pad === 'valid' &&
    ones(attrs.strides) &&
    ones(attrs.dilations) &&
    (attrs.dataFormat ?? 'NHWC') === 'NHWC' &&
    I * K * G * J > 0;
  return serve(args, tfjsConv, groupContract, (ours, backend) => {
    const out = backend.makeOutput([I, 1, 1, G * J], 'float32');
    const wasm = backend.wasm as unknown as { _malloc(bytes: number): number; _free(at: number): void };
    const scratch = wasm._malloc(4 * GROUPS_PER_PASS * (I * K + 16));
    try {
      const [px, pf, po] = [offsetOf(backend, x), offsetOf(backend, filter), offsetOf(backend, out)];
      ours.group_contract(px, pf, po, I, K, G, J, scratch);
    } finally {
      wasm._free(scratch);
    }
    return out;
  });
}

function concat(args: KernelArgs): tf.TensorInfo {
  const inputs = args.inputs as unknown as tf.TensorInfo[];
  const [x, y] = inputs;
  const rank = x?.shape.length ?? 0;
  const axis = rank > 0 ? tf.util.parseAxisParam(args.attrs?.axis as number, x.shape)[0] : 0;
  const size = tf.util.sizeFromShape;
  const fits =
    inputs.length === 2 &&
    rank > 0 &&
    y.shape.length === rank &&
    x.dtype === y.dtype &&
    (x.dtype === 'float32' || x.dtype === 'int32') &&
    x.shape.every((d, i) => i === axis || d === y.shape[i]) &&
    size(x.shape) > 0 &&
    size(y.shape) > 0;
  return serve(args, tfjsConcat, fits, (ours, backend) => {
    const out = backend.makeOutput(
      x.shape.map((d, i) => (i === axis ? d + y.shape[i] : d)),
      x.dtype,
    );
    const batch = size(x.shape.slice(0, axis));
    const [nx, ny] = [size(x.shape.slice(axis)), size(y.shape.slice(axis))];
    ours.concat2(offsetOf(backend, x), offsetOf(backend, y), offsetOf(backend, out), batch, nx, ny);
    return out;
  });
}

/** Swap one of the wasm backend's kernels for ours; returns tfjs's. */
function replace(name: string, kernelFunc: (args: KernelArgs) => tf.TensorInfo): tf.KernelConfig {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel)
    throw new Error(
      'installWasmKernels: the wasm backend is not registered (import @tensorflow/tfjs-backend-wasm first)',
    );
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...kernel, kernelFunc: kernelFunc as tf.KernelFunc });
  return kernel;
}

/**
 * Put our kernels in front of tfjs-wasm's `BatchMatMul`, `DepthwiseConv2dNative` and `Concat` (once; later
 * calls do nothing). Call it after '@tensorflow/tfjs-backend-wasm' is imported, before or after the
 * backend starts.
 */
export function installWasmKernels(): void {
  if (tfjsMatMul) return;
  tfjsMatMul = replace(tf.BatchMatMul, batchMatMul);
  tfjsConv = replace(tf.DepthwiseConv2dNative, depthwiseConv2d);
  tfjsConcat = replace(tf.Concat, concat);
}
