/** Checkpoints on disk: `<dir>/<name>.json` (manifest) + `<dir>/<name>.bin` (blob). */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { verifyCheckpoint } from '../core/checkpoint';

export interface StoredCheckpoint {
  manifestJson: string;
  blob: Uint8Array;
}

export function writeCheckpoint(dir: string, name: string, ck: StoredCheckpoint): void {
  mkdirSync(dir, { recursive: true });
  // Write both files under temporary names, then rename: a crash never leaves a half-written pair.
  const json = path.join(dir, `${name}.json`);
  const bin = path.join(dir, `${name}.bin`);
  writeFileSync(`${bin}.tmp`, ck.blob);
  writeFileSync(`${json}.tmp`, ck.manifestJson);
  renameSync(`${bin}.tmp`, bin);
  renameSync(`${json}.tmp`, json);
}

/**
 * Read `<dir>/<name>.{json,bin}` and validate the pair (manifest, sizes, CRC-32, kind = name, and
 * the task when given), so a damaged or mismatched file fails here with a message naming it.
 */
export function readCheckpoint(dir: string, name: 'policy' | 'prm', task?: string): StoredCheckpoint {
  const json = path.join(dir, `${name}.json`);
  const bin = path.join(dir, `${name}.bin`);
  if (!existsSync(json) || !existsSync(bin))
    throw new Error(`no ${name} checkpoint in '${dir}' (expected ${name}.json and ${name}.bin)`);
  const ck = { manifestJson: readFileSync(json, 'utf8'), blob: new Uint8Array(readFileSync(bin)) };
  const unusable = (why: string) => new Error(`${name} checkpoint in '${dir}' is unusable: ${why}`);
  let manifest: { kind: string; task: string };
  try {
    manifest = verifyCheckpoint(ck.manifestJson, ck.blob);
  } catch (e) {
    throw unusable((e as Error).message);
  }
  if (manifest.kind !== name) throw unusable(`it holds a ${manifest.kind}`);
  if (task && manifest.task !== task) throw unusable(`it is for task '${manifest.task}', not '${task}'`);
  return ck;
}
