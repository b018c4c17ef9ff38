import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHECKPOINT_VERSION,
  CheckpointError,
  type CheckpointErrorCode,
  type CheckpointInput,
  crc32,
  deserializeCheckpoint,
  MAX_TENSOR_ELEMENTS,
  packCheckpointFile,
  serializeCheckpoint,
  unpackCheckpointFile,
} from '../src/core/checkpoint';

/** Float32Array whose bit patterns are given directly (exact NaN payloads, -0, subnormals...). */
function fromBits(bits: number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}
const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

const SPECIAL_BITS = [
  0x00000000, // +0
  0x80000000, // -0
  0x00000001, // smallest subnormal
  0x807fffff, // largest negative subnormal
  0x7f7fffff, // max finite
  0xff7fffff, // min finite
  0x3f800000, // 1
];

/** Non-finite bit patterns: every one makes a checkpoint unusable. */
const NON_FINITE_BITS: [number, string][] = [
  [0x7f800000, 'Infinity'],
  [0xff800000, '-Infinity'],
  [0x7fc00000, 'NaN'], // canonical quiet NaN
  [0x7fc12345, 'NaN'], // quiet NaN with payload
  [0xffc00001, 'NaN'], // negative quiet NaN with payload
  [0x7f800001, 'NaN'], // signalling NaN
];
const isFiniteBits = (w: number) => (w & 0x7f800000) !== 0x7f800000;

function sampleInput(): CheckpointInput {
  return {
    kind: 'policy',
    task: 'add',
    step: 1200,
    // Insertion order deliberately unsorted: output must not depend on it.
    config: { nLayer: 2, dModel: 64, vocab: { size: 20, chars: 'ab' }, nHead: 4 },
    rng: [1, 2, 3, 0xffffffff],
    optimizer: { name: 'adam', iterations: 1200, hyper: { lr: 1e-3, beta2: 0.999, beta1: 0.9 } },
    meta: { testAcc: 0.62, note: 'settled' },
    tensors: [
      { name: 'wte', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0.1, -0, 1e-40]) },
      { name: 'special', shape: [SPECIAL_BITS.length], data: fromBits(SPECIAL_BITS) },
      { name: 'scalar', shape: [], data: new Float32Array([42]) },
      { name: 'empty', shape: [0, 5], data: new Float32Array(0) },
      { name: 'opt/wte/m', shape: [6], data: new Float32Array([0, 0, 0, 1, 2, 3]) },
    ],
  };
}

function expectCode(fn: () => unknown, code: CheckpointErrorCode, message?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    expect((e as CheckpointError).code).toBe(code);
    if (message) expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected a CheckpointError with code '${code}'`);
}

/** Serializes, lets `edit` tamper with the parsed manifest, returns the JSON + original blob. */
// biome-ignore lint/suspicious/noExplicitAny: tests poke arbitrary fields of the parsed manifest
function tampered(edit: (m: any) => void): { json: string; blob: Uint8Array } {
  const { manifestJson, blob } = serializeCheckpoint(sampleInput());
  const m = JSON.parse(manifestJson);
  edit(m);
  return { json: JSON.stringify(m), blob };
}

describe('crc32', () => {
  it('matches the standard check value', () => {
    // CRC-32/ISO-HDLC check value for "123456789" is 0xCBF43926.
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe('serialize / deserialize', () => {
  it('round-trips bit-exactly, including -0, subnormals and the largest finite values', () => {
    const input = sampleInput();
    const { manifestJson, blob, manifest } = serializeCheckpoint(input);
    const { manifest: m2, tensors } = deserializeCheckpoint(manifestJson, blob);
    expect(m2).toEqual(manifest);
    expect(manifest.version).toBe(CHECKPOINT_VERSION);
    expect(manifest.blobBytes).toBe(blob.length);
    expect(manifest.checksum).toMatch(/^[0-9a-f]{8}$/);
    expect([...tensors.keys()]).toEqual(input.tensors.map((t) => t.name));
    for (const t of input.tensors) {
      const got = tensors.get(t.name)!;
      expect(got.shape).toEqual(t.shape);
      expect(bitsOf(got.data)).toEqual(bitsOf(t.data));
    }
    expect(bitsOf(tensors.get('special')!.data)).toEqual(SPECIAL_BITS);
  });

  it('round-trips random tensors (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 0xffffffff }).filter(isFiniteBits), { maxLength: 40 }), {
          maxLength: 5,
        }),
        (arrays) => {
          const input = {
            ...sampleInput(),
            tensors: arrays.map((bits, i) => ({ name: `t${i}`, shape: [bits.length], data: fromBits(bits) })),
          };
          const { manifestJson, blob } = serializeCheckpoint(input);
          const { tensors } = deserializeCheckpoint(packAndUnpack(manifestJson, blob).manifestJson, blob);
          arrays.forEach((bits, i) => {
            expect(bitsOf(tensors.get(`t${i}`)!.data)).toEqual(bits);
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  it('refuses a checkpoint with any non-finite value, naming the tensor, the value and the element', () => {
    for (const [bits, what] of NON_FINITE_BITS) {
      const input = sampleInput();
      // The poison sits in an optimizer slot, past the weights: every tensor is checked.
      const slot = input.tensors[4];
      const data = new Float32Array(slot.data);
      new Uint32Array(data.buffer)[4] = bits;
      input.tensors[4] = { ...slot, data };
      const { manifestJson, blob } = serializeCheckpoint(input); // a valid checksum over the NaN
      expectCode(
        () => deserializeCheckpoint(manifestJson, blob),
        'nonfinite',
        new RegExp(
          `tensor 'opt/wte/m' holds ${what} at element 4: a model with non-finite weights is unusable`,
        ),
      );
      // A blob at an odd byte offset (no aligned fast path) is checked the same way.
      const shifted = new Uint8Array(blob.length + 1).subarray(1);
      shifted.set(blob);
      expectCode(() => deserializeCheckpoint(manifestJson, shifted), 'nonfinite');
    }
  });

  it('is deterministic and independent of key insertion order', () => {
    const a = serializeCheckpoint(sampleInput());
    const b = serializeCheckpoint(sampleInput());
    expect(b.manifestJson).toBe(a.manifestJson);
    expect(b.blob).toEqual(a.blob);
    const reordered = sampleInput();
    reordered.config = { nHead: 4, vocab: { chars: 'ab', size: 20 }, dModel: 64, nLayer: 2 };
    reordered.optimizer.hyper = { beta1: 0.9, beta2: 0.999, lr: 1e-3 };
    expect(serializeCheckpoint(reordered).manifestJson).toBe(a.manifestJson);
    // Pretty-printed with 2 spaces, identity first.
    expect(a.manifestJson.startsWith('{\n  "format": "scope-lab-checkpoint",\n  "version": 1,')).toBe(true);
    expect(a.manifestJson).not.toMatch(/time|date/i);
  });

  it('copies data out instead of aliasing the input blob', () => {
    const { manifestJson, blob } = serializeCheckpoint(sampleInput());
    const { tensors } = deserializeCheckpoint(manifestJson, blob);
    const before = tensors.get('wte')!.data[0];
    blob.fill(0);
    expect(tensors.get('wte')!.data[0]).toBe(before);
    expect(tensors.get('wte')!.data.buffer).not.toBe(blob.buffer);
  });

  it('accepts an already-parsed manifest object', () => {
    const { manifestJson, blob } = serializeCheckpoint(sampleInput());
    expect(deserializeCheckpoint(JSON.parse(manifestJson), blob).tensors.size).toBe(5);
  });

  it('rejects a corrupted blob byte with a checksum error', () => {
    const { manifestJson, blob } = serializeCheckpoint(sampleInput());
    const bad = blob.slice();
    bad[5] ^= 0x01;
    expectCode(() => deserializeCheckpoint(manifestJson, bad), 'checksum', /corrupted/);
  });

  it('rejects a truncated blob', () => {
    const { manifestJson, blob } = serializeCheckpoint(sampleInput());
    expectCode(
      () => deserializeCheckpoint(manifestJson, blob.subarray(0, blob.length - 4)),
      'size',
      /truncated/,
    );
  });

  it('rejects non-JSON, wrong format tags and non-objects', () => {
    const { blob } = serializeCheckpoint(sampleInput());
    expectCode(() => deserializeCheckpoint('{not json', blob), 'format', /not valid JSON/);
    expectCode(() => deserializeCheckpoint('[]', blob), 'format');
    const t = tampered((m) => {
      m.format = 'something-else';
    });
    expectCode(() => deserializeCheckpoint(t.json, t.blob), 'format', /not a scope-lab checkpoint/);
  });

  it('rejects future and invalid versions', () => {
    const future = tampered((m) => {
      m.version = 2;
    });
    expectCode(
      () => deserializeCheckpoint(future.json, future.blob),
      'version',
      /^checkpoint version 2 is newer than this scope-lab supports \(1\)$/,
    );
    const zero = tampered((m) => {
      m.version = 0;
    });
    expectCode(() => deserializeCheckpoint(zero.json, zero.blob), 'version');
  });

  it('rejects schema violations (bad checksum string, bad rng)', () => {
    const c = tampered((m) => {
      m.checksum = 'XYZ';
    });
    expectCode(() => deserializeCheckpoint(c.json, c.blob), 'format', /checksum/);
    const r = tampered((m) => {
      m.rng = [1, 2, 3];
    });
    expectCode(() => deserializeCheckpoint(r.json, r.blob), 'format', /rng/);
  });

  it('rejects out-of-range and overlapping tensors', () => {
    const oob = tampered((m) => {
      m.tensors[0].offset = m.blobBytes - 4; // 6 elements cannot fit in the last 4 bytes
    });
    expectCode(() => deserializeCheckpoint(oob.json, oob.blob), 'size', /spans bytes/);
    const overlap = tampered((m) => {
      m.tensors[1].offset = m.tensors[0].offset + 4;
    });
    expectCode(() => deserializeCheckpoint(overlap.json, overlap.blob), 'size', /overlap/);
    const dup = tampered((m) => {
      m.tensors[1].name = m.tensors[0].name;
    });
    expectCode(() => deserializeCheckpoint(dup.json, dup.blob), 'format', /duplicate/);
  });

  it('rejects shape mismatches and bad dimensions', () => {
    const mismatch = tampered((m) => {
      m.tensors[0].shape = [4, 2];
    });
    expectCode(() => deserializeCheckpoint(mismatch.json, mismatch.blob), 'shape', /8 elements but 6/);
    const negative = tampered((m) => {
      m.tensors[0].shape = [-2, -3];
    });
    expectCode(() => deserializeCheckpoint(negative.json, negative.blob), 'shape', /invalid dimension/);
    const fractional = tampered((m) => {
      m.tensors[0].shape = [1.5, 4];
    });
    expectCode(() => deserializeCheckpoint(fractional.json, fractional.blob), 'shape');
    // A NaN dim can only arrive through an object manifest (JSON has no NaN).
    const { manifestJson, blob } = serializeCheckpoint(sampleInput());
    const obj = JSON.parse(manifestJson);
    obj.tensors[0].shape = [Number.NaN, 6];
    expectCode(() => deserializeCheckpoint(obj, blob), 'shape');
  });

  it('rejects absurd sizes', () => {
    const huge = tampered((m) => {
      m.tensors[0].shape = [MAX_TENSOR_ELEMENTS + 1];
      m.tensors[0].length = MAX_TENSOR_ELEMENTS + 1;
    });
    expectCode(() => deserializeCheckpoint(huge.json, huge.blob), 'size', /more than/);
  });

  it('refuses to write inconsistent input', () => {
    const bad = sampleInput();
    bad.tensors[0].shape = [7];
    expectCode(() => serializeCheckpoint(bad), 'shape');
    const dup = sampleInput();
    dup.tensors[1].name = 'wte';
    expectCode(() => serializeCheckpoint(dup), 'format', /duplicate/);
  });
});

function packAndUnpack(manifestJson: string, blob: Uint8Array) {
  return unpackCheckpointFile(packCheckpointFile(manifestJson, blob));
}

describe('pack / unpack', () => {
  it('round-trips through one file', () => {
    const { manifestJson, blob } = serializeCheckpoint(sampleInput());
    const file = packCheckpointFile(manifestJson, blob);
    expect(new TextDecoder().decode(file.subarray(0, 8))).toBe('SCOPELAB');
    const u = unpackCheckpointFile(file);
    expect(u.manifestJson).toBe(manifestJson);
    expect(u.blob).toEqual(blob);
    expect(u.blob.buffer).not.toBe(file.buffer);
    // Works on a view with a non-zero byteOffset too.
    const padded = new Uint8Array(file.length + 3);
    padded.set(file, 3);
    expect(unpackCheckpointFile(padded.subarray(3)).manifestJson).toBe(manifestJson);
    const { tensors } = deserializeCheckpoint(u.manifestJson, u.blob);
    expect(bitsOf(tensors.get('special')!.data)).toEqual(SPECIAL_BITS);
  });

  it('rejects bad magic', () => {
    const { manifestJson, blob } = serializeCheckpoint(sampleInput());
    const file = packCheckpointFile(manifestJson, blob);
    file[0] = 'X'.charCodeAt(0);
    expectCode(() => unpackCheckpointFile(file), 'format', /bad magic/);
  });

  it('rejects truncated files at every kind of cut', () => {
    const { manifestJson, blob } = serializeCheckpoint(sampleInput());
    const file = packCheckpointFile(manifestJson, blob);
    expectCode(() => unpackCheckpointFile(file.subarray(0, 5)), 'size', /too short/);
    expectCode(() => unpackCheckpointFile(file.subarray(0, 40)), 'size', /manifest needs/);
    expectCode(() => unpackCheckpointFile(file.subarray(0, file.length - 1)), 'size', /truncated/);
    const longer = new Uint8Array(file.length + 2);
    longer.set(file);
    expectCode(() => unpackCheckpointFile(longer), 'size', /trailing/);
  });

  it('rejects a manifest that is not UTF-8', () => {
    const file = packCheckpointFile('{}', new Uint8Array(0));
    file[12] = 0xff;
    expectCode(() => unpackCheckpointFile(file), 'format', /UTF-8/);
  });
});
