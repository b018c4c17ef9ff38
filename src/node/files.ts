/** Checkpoints on disk: `<dir>/<name>.json` (manifest) + `<dir>/<name>.bin` (blob). */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

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

export function readCheckpoint(dir: string, name: string): StoredCheckpoint {
  const json = path.join(dir, `${name}.json`);
  const bin = path.join(dir, `${name}.bin`);
  if (!existsSync(json) || !existsSync(bin))
    throw new Error(`no ${name} checkpoint in '${dir}' (expected ${name}.json and ${name}.bin)`);
  return { manifestJson: readFileSync(json, 'utf8'), blob: new Uint8Array(readFileSync(bin)) };
}
