/**
 * Checkpoint files on disk: `<dir>/<name>.json` (manifest) + `<dir>/<name>.bin` (blob).
 * `writeCheckpoint` (pretrain's output) writes each file under a temporary name, fsyncs it and
 * renames it into place; the two renames are separate, so a kill between them leaves a new blob
 * beside the old manifest, which `readCheckpoint` then refuses (CRC-32). A training run replaces
 * its checkpoint as one unit instead: src/node/run-dir.ts.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { verifyCheckpoint } from '../core/checkpoint';
import { checkCompatible, configFromManifest } from '../core/model-shape';
import { getTask } from '../core/tasks';

export interface StoredCheckpoint {
  manifestJson: string;
  blob: Uint8Array;
}

/** Write `data` to `file` and fsync it (the durable half of every write-then-rename here). */
export function writeDurable(file: string, data: string | Uint8Array): void {
  const fd = openSync(file, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeCheckpoint(dir: string, name: string, ck: StoredCheckpoint): void {
  mkdirSync(dir, { recursive: true });
  const json = path.join(dir, `${name}.json`);
  const bin = path.join(dir, `${name}.bin`);
  writeDurable(`${bin}.tmp`, ck.blob);
  writeDurable(`${json}.tmp`, ck.manifestJson);
  renameSync(`${bin}.tmp`, bin);
  renameSync(`${json}.tmp`, json);
}

/**
 * Read `<dir>/<name>.{json,bin}` and validate the pair (manifest, sizes, CRC-32, finite values,
 * kind = name, tensor shapes against the manifest's model config, and the task when given), so a
 * damaged or mismatched file fails here with a message naming it.
 */
export function readCheckpoint(dir: string, name: 'policy' | 'prm', task?: string): StoredCheckpoint {
  const json = path.join(dir, `${name}.json`);
  const bin = path.join(dir, `${name}.bin`);
  if (!existsSync(json) || !existsSync(bin))
    throw new Error(`no ${name} checkpoint in '${dir}' (expected ${name}.json and ${name}.bin)`);
  const ck = { manifestJson: readFileSync(json, 'utf8'), blob: new Uint8Array(readFileSync(bin)) };
  const unusable = (why: string) => new Error(`${name} checkpoint in '${dir}' is unusable: ${why}`);
  let manifest: ReturnType<typeof verifyCheckpoint>;
  try {
    manifest = verifyCheckpoint(ck.manifestJson, ck.blob);
  } catch (e) {
    throw unusable((e as Error).message);
  }
  if (manifest.kind !== name) throw unusable(`it holds a ${manifest.kind}`);
  if (task && manifest.task !== task) throw unusable(`it is for task '${manifest.task}', not '${task}'`);
  try {
    checkCompatible(manifest, getTask(manifest.task), configFromManifest(manifest, name));
  } catch (e) {
    throw unusable((e as Error).message);
  }
  return ck;
}
