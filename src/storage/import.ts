/**
 * Validation of an imported checkpoint file, before anything is written. A file is untrusted data:
 * its size is bounded first, the manifest is parsed with JSON.parse only (never evaluated), and
 * every check reuses the core checkpoint rules (format, version, sizes, checksum, shapes).
 */
import {
  CheckpointError,
  type CheckpointManifest,
  unpackCheckpointFile,
  verifyCheckpoint,
} from '../core/checkpoint';
import { checkCompatible, configFromManifest, type ModelConfig } from '../core/model-shape';
import { parseRlConfig, type RlConfig } from '../core/rl/config';
import type { StoredCheckpoint } from '../core/rl/services';
import { getTask, TASK_NAMES } from '../core/tasks';
import { tokenizerFor } from '../core/tokenizer';
import { StorageError } from './errors';

/** What the importing page can run: its task and (optionally) its policy's model shape. */
export interface ImportExpectation {
  task?: string;
  model?: Partial<Omit<ModelConfig, 'kind'>>;
}

export interface ValidatedImport {
  ck: StoredCheckpoint;
  manifest: CheckpointManifest;
  config: RlConfig;
  iter: number;
}

const reject = (problem: string, cause?: unknown) =>
  new StorageError('invalid-file', `Cannot import this file: ${problem}`, { cause });

/** The size cap, checked on a file's declared size before it is read, and on the bytes. */
export function checkImportSize(size: number, maxBytes: number): void {
  if (size > maxBytes)
    throw reject(`it is ${mib(size)}, larger than the ${mib(maxBytes)} a scope-lab checkpoint may be`);
}

/** Every check of `importCheckpoint`; throws StorageError('invalid-file') naming the first problem. */
export function validateImportFile(
  input: Uint8Array | ArrayBuffer,
  expect: ImportExpectation,
  maxBytes: number,
): ValidatedImport {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  checkImportSize(bytes.length, maxBytes);
  let manifest: CheckpointManifest;
  let ck: StoredCheckpoint;
  try {
    const { manifestJson, blob } = unpackCheckpointFile(bytes);
    manifest = verifyCheckpoint(manifestJson, blob);
    ck = { manifestJson, blob };
  } catch (e) {
    if (e instanceof CheckpointError) throw reject(e.message, e);
    throw e;
  }

  if (manifest.kind !== 'policy')
    throw reject(`it holds a ${manifest.kind} checkpoint; only a run's policy checkpoint can be imported`);
  if (!(TASK_NAMES as readonly string[]).includes(manifest.task))
    throw reject(`it is for an unknown task '${manifest.task}' (known: ${TASK_NAMES.join(', ')})`);
  if (expect.task !== undefined && manifest.task !== expect.task)
    throw reject(`it is a checkpoint of task '${manifest.task}', this page trains '${expect.task}'`);

  try {
    const model = configFromManifest(manifest, 'policy');
    const task = getTask(manifest.task);
    // The manifest's own config could be consistent with its tensors yet not fit the task's alphabet.
    const vocab = tokenizerFor(task).vocabSize;
    if (model.vocabSize !== vocab)
      throw new CheckpointError(
        'shape',
        `its vocabulary has ${model.vocabSize} tokens, task '${task.name}' has ${vocab}`,
      );
    checkCompatible(manifest, task, model);
    for (const [key, want] of Object.entries(expect.model ?? {}))
      if (want !== undefined && model[key as keyof ModelConfig] !== want)
        throw new CheckpointError(
          'shape',
          `its model has ${key} = ${model[key as keyof ModelConfig]}, this page's model has ${want}`,
        );
  } catch (e) {
    if (e instanceof CheckpointError) throw reject(`model shape mismatch: ${e.message}`, e);
    throw e;
  }

  const meta = manifest.meta;
  if (meta.config === null || typeof meta.config !== 'object' || Array.isArray(meta.config))
    throw reject('it carries no run configuration (meta.config); it is not an exported run checkpoint');
  let config: RlConfig;
  try {
    config = parseRlConfig(meta.config as Record<string, unknown>);
  } catch (e) {
    throw reject(`its run configuration is not valid: ${(e as Error).message}`, e);
  }
  if (config.task !== manifest.task)
    throw reject(`its run configuration is for task '${config.task}' but its weights for '${manifest.task}'`);
  const iter = meta.iter;
  if (typeof iter !== 'number' || !Number.isInteger(iter) || iter < 0 || iter > config.iters)
    throw reject(
      `its iteration (meta.iter = ${JSON.stringify(iter)}) is not an integer in 0..${config.iters}`,
    );
  return { ck, manifest, config, iter };
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
