/**
 * Checkpoint format: a JSON manifest plus one binary blob of concatenated little-endian float32
 * tensors (weights and optimizer slots alike; slots are named with a prefix such as 'opt/').
 * Everything is deterministic (no timestamps, stable key order) so a shipped file is byte-reproducible,
 * and everything read back is validated before use: a checkpoint is untrusted input (user imports).
 *
 * Packed single-file form: "SCOPELAB" (8 bytes) | uint32 LE manifest byte length | manifest UTF-8 | blob.
 */

import type { RngState } from './rng';
import { z } from './zod';

export const CHECKPOINT_FORMAT = 'scope-lab-checkpoint';
export const CHECKPOINT_VERSION = 1;
/** Largest tensor accepted (elements). Ours are ~1e5; anything near this is a corrupt or hostile file. */
export const MAX_TENSOR_ELEMENTS = 64 * 1024 * 1024;

export type CheckpointErrorCode = 'format' | 'version' | 'checksum' | 'size' | 'shape' | 'nonfinite';

export class CheckpointError extends Error {
  readonly code: CheckpointErrorCode;
  constructor(code: CheckpointErrorCode, message: string) {
    super(message);
    this.name = 'CheckpointError';
    this.code = code;
  }
}

const tensorEntrySchema = z.object({
  name: z.string().min(1),
  // Dimensions are checked by hand below so that bad dims get the 'shape' code, not 'format'.
  shape: z.array(z.unknown()),
  offset: z.number().int().nonnegative(),
  length: z.number().int().nonnegative(),
});

const manifestSchema = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  version: z.literal(CHECKPOINT_VERSION),
  kind: z.enum(['policy', 'prm']),
  task: z.string(),
  step: z.number().int().nonnegative(),
  config: z.record(z.string(), z.unknown()),
  rng: z
    .tuple([z.number(), z.number(), z.number(), z.number()])
    .refine(
      (s) => s.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff),
      'RNG state must be four uint32 words',
    ),
  optimizer: z.object({
    name: z.string(),
    iterations: z.number().int().nonnegative(),
    hyper: z.record(z.string(), z.number()),
  }),
  tensors: z.array(tensorEntrySchema),
  blobBytes: z.number().int().nonnegative(),
  checksum: z.string().regex(/^[0-9a-f]{8}$/, 'checksum must be 8 lowercase hex digits'),
  meta: z.record(z.string(), z.unknown()),
});

export interface CheckpointTensorEntry {
  name: string;
  shape: number[];
  /** Byte offset into the blob. */
  offset: number;
  /** Number of float32 elements. */
  length: number;
}

export interface CheckpointOptimizer {
  name: string;
  iterations: number;
  hyper: Record<string, number>;
}

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: typeof CHECKPOINT_VERSION;
  kind: 'policy' | 'prm';
  task: string;
  step: number;
  config: Record<string, unknown>;
  rng: RngState;
  optimizer: CheckpointOptimizer;
  tensors: CheckpointTensorEntry[];
  blobBytes: number;
  /** CRC-32 (IEEE) of the blob, 8 lowercase hex chars. */
  checksum: string;
  meta: Record<string, unknown>;
}

export interface CheckpointInput {
  kind: 'policy' | 'prm';
  task: string;
  step: number;
  config: Record<string, unknown>;
  rng: RngState;
  optimizer: CheckpointOptimizer;
  meta?: Record<string, unknown>;
  tensors: { name: string; shape: number[]; data: Float32Array }[];
}

export interface LoadedTensor {
  shape: number[];
  data: Float32Array;
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), table-driven.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function crcHex(bytes: Uint8Array): string {
  return crc32(bytes).toString(16).padStart(8, '0');
}

// ---------------------------------------------------------------------------------------------
// Byte order. Copying raw bytes (rather than going through numbers) keeps every bit, NaN payloads
// included; big-endian hosts (rare) swap each 4-byte word.

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function swap32InPlace(b: Uint8Array): void {
  for (let i = 0; i + 3 < b.length; i += 4) {
    const a0 = b[i];
    const a1 = b[i + 1];
    b[i] = b[i + 3];
    b[i + 1] = b[i + 2];
    b[i + 2] = a1;
    b[i + 3] = a0;
  }
}

/** Recursively sorts object keys so JSON output does not depend on insertion order. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = canonical((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

function checkShape(name: string, shape: readonly number[], length: number): void {
  for (const d of shape)
    if (!Number.isInteger(d) || d < 0)
      throw new CheckpointError('shape', `tensor '${name}': invalid dimension ${d} in shape [${shape}]`);
  if (length > MAX_TENSOR_ELEMENTS)
    throw new CheckpointError(
      'size',
      `tensor '${name}' has ${length} elements, more than the ${MAX_TENSOR_ELEMENTS} allowed`,
    );
  const product = shape.reduce((a, b) => a * b, 1);
  if (product !== length)
    throw new CheckpointError(
      'shape',
      `tensor '${name}': shape [${shape}] has ${product} elements but ${length} are stored`,
    );
}

// ---------------------------------------------------------------------------------------------

/** Builds manifest + blob. Same input -> identical bytes (tensor order is the input order). */
export function serializeCheckpoint(input: CheckpointInput): {
  manifest: CheckpointManifest;
  manifestJson: string;
  blob: Uint8Array;
} {
  const seen = new Set<string>();
  let total = 0;
  for (const t of input.tensors) {
    if (!t.name) throw new CheckpointError('format', 'tensor with an empty name');
    if (seen.has(t.name)) throw new CheckpointError('format', `duplicate tensor name '${t.name}'`);
    seen.add(t.name);
    checkShape(t.name, t.shape, t.data.length);
    total += t.data.length * 4;
  }
  const blob = new Uint8Array(total);
  const entries: CheckpointTensorEntry[] = [];
  let offset = 0;
  for (const t of input.tensors) {
    blob.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offset);
    entries.push({ name: t.name, shape: [...t.shape], offset, length: t.data.length });
    offset += t.data.byteLength;
  }
  if (!LITTLE_ENDIAN) swap32InPlace(blob);
  // Fixed top-level order (readable: identity first, bulk last); free-form records sorted.
  const manifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    kind: input.kind,
    task: input.task,
    step: input.step,
    config: canonical(input.config),
    rng: [...input.rng],
    optimizer: {
      name: input.optimizer.name,
      iterations: input.optimizer.iterations,
      hyper: canonical(input.optimizer.hyper),
    },
    tensors: entries,
    blobBytes: blob.length,
    checksum: crcHex(blob),
    meta: canonical(input.meta ?? {}),
  };
  const manifestJson = JSON.stringify(manifest, null, 2);
  // Validate what we wrote with the reading rules (a bad input fails at save time), and return the
  // manifest as a reader will see it (JSON turns e.g. NaN in meta into null).
  return { manifest: validateManifest(JSON.parse(manifestJson)), manifestJson, blob };
}

function validateManifest(raw: unknown): CheckpointManifest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new CheckpointError('format', 'checkpoint manifest is not a JSON object');
  const obj = raw as Record<string, unknown>;
  if (obj.format !== CHECKPOINT_FORMAT)
    throw new CheckpointError(
      'format',
      `not a scope-lab checkpoint: format tag is ${JSON.stringify(obj.format) ?? 'missing'}, expected '${CHECKPOINT_FORMAT}'`,
    );
  const v = obj.version;
  if (typeof v === 'number' && Number.isInteger(v) && v > CHECKPOINT_VERSION)
    throw new CheckpointError(
      'version',
      `checkpoint version ${v} is newer than this scope-lab supports (${CHECKPOINT_VERSION})`,
    );
  if (v !== CHECKPOINT_VERSION)
    throw new CheckpointError('version', `unsupported checkpoint version ${JSON.stringify(v) ?? 'missing'}`);
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new CheckpointError('format', `invalid checkpoint manifest: ${issues}`);
  }
  const m = parsed.data as CheckpointManifest;
  const names = new Set<string>();
  for (const t of m.tensors) {
    if (names.has(t.name)) throw new CheckpointError('format', `duplicate tensor name '${t.name}'`);
    names.add(t.name);
    checkShape(t.name, t.shape, t.length);
    const end = t.offset + t.length * 4;
    if (end > m.blobBytes)
      throw new CheckpointError(
        'size',
        `tensor '${t.name}' spans bytes ${t.offset}..${end} but the blob has ${m.blobBytes} bytes`,
      );
  }
  // Overlap check on byte ranges sorted by offset; empty tensors occupy nothing.
  const ranges = m.tensors.filter((t) => t.length > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < ranges.length; i++) {
    const prev = ranges[i - 1];
    if (ranges[i].offset < prev.offset + prev.length * 4)
      throw new CheckpointError('size', `tensors '${prev.name}' and '${ranges[i].name}' overlap in the blob`);
  }
  return m;
}

/**
 * Every float of every tensor (weights and optimizer slots) must be finite: a model with a NaN or
 * an Inf anywhere computes NaN everywhere it reaches, and training from it only skips updates.
 * Reads the float32 words in place (exponent bits all ones = Inf or NaN).
 */
function checkFinite(manifest: CheckpointManifest, blob: Uint8Array): void {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const words =
    LITTLE_ENDIAN && blob.byteOffset % 4 === 0
      ? new Uint32Array(blob.buffer, blob.byteOffset, blob.length >> 2)
      : null;
  for (const t of manifest.tensors) {
    const first = t.offset >> 2;
    for (let i = 0; i < t.length; i++) {
      const w = words && t.offset % 4 === 0 ? words[first + i] : view.getUint32(t.offset + i * 4, true);
      if ((w & 0x7f800000) === 0x7f800000) {
        const what = w & 0x007fffff ? 'NaN' : w >>> 31 ? '-Infinity' : 'Infinity';
        throw new CheckpointError(
          'nonfinite',
          `tensor '${t.name}' holds ${what} at element ${i}: a model with non-finite weights is unusable (diverged training or a damaged file)`,
        );
      }
    }
  }
}

/**
 * Validates manifest + blob (JSON, manifest, size, CRC-32, every value finite) without copying the
 * tensors out. Every load path goes through here: the CLI's checkpoint files, the page's and the
 * widget's fetched and stored checkpoints, imports, and `fromCheckpoint`.
 */
export function verifyCheckpoint(manifestJson: string | unknown, blob: Uint8Array): CheckpointManifest {
  let raw: unknown = manifestJson;
  if (typeof manifestJson === 'string') {
    try {
      raw = JSON.parse(manifestJson);
    } catch (e) {
      throw new CheckpointError('format', `checkpoint manifest is not valid JSON: ${(e as Error).message}`);
    }
  }
  const manifest = validateManifest(raw);
  if (blob.length !== manifest.blobBytes)
    throw new CheckpointError(
      'size',
      `checkpoint blob has ${blob.length} bytes but the manifest says ${manifest.blobBytes} (truncated or wrong file?)`,
    );
  const actual = crcHex(blob);
  if (actual !== manifest.checksum)
    throw new CheckpointError(
      'checksum',
      `checkpoint blob is corrupted: CRC-32 is ${actual}, manifest says ${manifest.checksum}`,
    );
  checkFinite(manifest, blob);
  return manifest;
}

/**
 * Validates manifest + blob (`verifyCheckpoint`, which refuses non-finite values) and copies every
 * tensor out bit for bit (the result never aliases `blob`).
 */
export function deserializeCheckpoint(
  manifestJson: string | unknown,
  blob: Uint8Array,
): { manifest: CheckpointManifest; tensors: Map<string, LoadedTensor> } {
  const manifest = verifyCheckpoint(manifestJson, blob);
  const tensors = new Map<string, LoadedTensor>();
  for (const t of manifest.tensors) {
    const data = new Float32Array(t.length);
    const bytes = new Uint8Array(data.buffer);
    bytes.set(blob.subarray(t.offset, t.offset + t.length * 4));
    if (!LITTLE_ENDIAN) swap32InPlace(bytes);
    tensors.set(t.name, { shape: [...t.shape], data });
  }
  return { manifest, tensors };
}

// ---------------------------------------------------------------------------------------------
// Single-file packing.

const MAGIC = 'SCOPELAB';
const HEADER_BYTES = MAGIC.length + 4;

export function packCheckpointFile(manifestJson: string, blob: Uint8Array): Uint8Array {
  const m = new TextEncoder().encode(manifestJson);
  const out = new Uint8Array(HEADER_BYTES + m.length + blob.length);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  new DataView(out.buffer).setUint32(MAGIC.length, m.length, true);
  out.set(m, HEADER_BYTES);
  out.set(blob, HEADER_BYTES + m.length);
  return out;
}

/**
 * Splits a packed file. Checks magic and lengths only (JSON is parsed, never evaluated); full
 * validation is `deserializeCheckpoint`. The returned blob is a copy.
 */
export function unpackCheckpointFile(bytes: Uint8Array): { manifestJson: string; blob: Uint8Array } {
  if (bytes.length < HEADER_BYTES)
    throw new CheckpointError(
      'size',
      `file is ${bytes.length} bytes, too short to be a scope-lab checkpoint (truncated?)`,
    );
  for (let i = 0; i < MAGIC.length; i++)
    if (bytes[i] !== MAGIC.charCodeAt(i))
      throw new CheckpointError('format', 'not a scope-lab checkpoint file (bad magic, expected "SCOPELAB")');
  const mLen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(MAGIC.length, true);
  if (mLen > bytes.length - HEADER_BYTES)
    throw new CheckpointError(
      'size',
      `truncated checkpoint file: manifest needs ${mLen} bytes but only ${bytes.length - HEADER_BYTES} remain`,
    );
  let manifestJson: string;
  try {
    manifestJson = new TextDecoder('utf-8', { fatal: true }).decode(
      bytes.subarray(HEADER_BYTES, HEADER_BYTES + mLen),
    );
  } catch {
    throw new CheckpointError('format', 'checkpoint manifest is not valid UTF-8');
  }
  const blob = bytes.slice(HEADER_BYTES + mLen);
  // Early, clearer message for the commonest failure (a cut-off download); the rest is left to
  // deserializeCheckpoint, which reports bad JSON itself.
  let declared: unknown;
  try {
    declared = (JSON.parse(manifestJson) as { blobBytes?: unknown })?.blobBytes;
  } catch {
    declared = undefined;
  }
  if (typeof declared === 'number' && declared !== blob.length)
    throw new CheckpointError(
      'size',
      declared > blob.length
        ? `truncated checkpoint file: blob has ${blob.length} bytes, manifest says ${declared}`
        : `checkpoint file has ${blob.length - declared} unexpected trailing bytes`,
    );
  return { manifestJson, blob };
}
