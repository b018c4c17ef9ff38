/**
 * The model's shape without tensors: its config, the parameter names and shapes (the checkpoint
 * order), and the checks that a checkpoint manifest fits. ./model.ts re-exports the config and
 * shapes; they live here so that code on a page's main thread (storage validating an imported file)
 * can use them without loading tfjs.
 */
import { CheckpointError, type CheckpointManifest } from './checkpoint';
import type { Task } from './tasks/types';

export interface ModelConfig {
  vocabSize: number;
  /** Longest sequence (prompt + completion) the position table covers. */
  blockSize: number;
  nLayer: number;
  nHead: number;
  dModel: number;
  /** Hidden width of the MLP (4 * dModel in GPT-2). */
  dMlp: number;
  /** 'policy' ties the LM head to the embedding; 'prm' adds a two-number verifier head (see prmTokenLogits). */
  kind: 'policy' | 'prm';
}

/** An architecture without the task's vocabulary. */
export type ModelArch = Omit<ModelConfig, 'vocabSize' | 'kind'>;

/**
 * Named sizes. `default` is the shipped checkpoints' (105k parameters with the add vocabulary);
 * `large` (d=256, 4 layers, 8 heads, 3.2M parameters) is for the benchmark and users with a GPU:
 * no checkpoint is shipped for it (it serves no scenario yet).
 */
export const MODEL_PRESETS = {
  default: { blockSize: 64, nLayer: 2, nHead: 4, dModel: 64, dMlp: 256 },
  large: { blockSize: 64, nLayer: 4, nHead: 8, dModel: 256, dMlp: 1024 },
} as const satisfies Record<string, ModelArch>;

export type ModelPreset = keyof typeof MODEL_PRESETS;
export const MODEL_PRESET_NAMES = Object.keys(MODEL_PRESETS) as ModelPreset[];

/** Parameter names and shapes in a fixed order (the checkpoint order). */
export function paramShapes(cfg: ModelConfig): [string, number[]][] {
  const d = cfg.dModel;
  const shapes: [string, number[]][] = [
    ['wte', [cfg.vocabSize, d]],
    ['wpe', [cfg.blockSize, d]],
  ];
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = `h${l}.`;
    shapes.push(
      [p + 'ln1.g', [d]],
      [p + 'ln1.b', [d]],
      [p + 'attn.wqkv', [d, 3 * d]],
      [p + 'attn.bqkv', [3 * d]],
      [p + 'attn.wo', [d, d]],
      [p + 'attn.bo', [d]],
      [p + 'ln2.g', [d]],
      [p + 'ln2.b', [d]],
      [p + 'mlp.w1', [d, cfg.dMlp]],
      [p + 'mlp.b1', [cfg.dMlp]],
      [p + 'mlp.w2', [cfg.dMlp, d]],
      [p + 'mlp.b2', [d]],
    );
  }
  shapes.push(['lnf.g', [d]], ['lnf.b', [d]]);
  if (cfg.kind === 'prm') shapes.push(['prm.a', [1]], ['prm.b', [1]]);
  return shapes;
}

/** Throws CheckpointError unless the checkpoint fits a model of `task` with config `cfg`. */
export function checkCompatible(manifest: CheckpointManifest, task: Task, cfg: ModelConfig): void {
  if (manifest.task !== task.name)
    throw new CheckpointError('shape', `checkpoint is for task '${manifest.task}', not '${task.name}'`);
  if (manifest.kind !== cfg.kind)
    throw new CheckpointError('shape', `checkpoint holds a ${manifest.kind}, not a ${cfg.kind}`);
  for (const [name, shape] of paramShapes(cfg)) {
    const entry = manifest.tensors.find((t) => t.name === name);
    if (!entry) throw new CheckpointError('shape', `checkpoint lacks parameter '${name}'`);
    if (entry.shape.join('x') !== shape.join('x'))
      throw new CheckpointError(
        'shape',
        `parameter '${name}' has shape [${entry.shape}], the model needs [${shape}]`,
      );
  }
}

/** Model config from a checkpoint manifest (validated field by field). */
export function configFromManifest(manifest: CheckpointManifest, kind: ModelConfig['kind']): ModelConfig {
  if (manifest.kind !== kind)
    throw new CheckpointError('shape', `checkpoint holds a ${manifest.kind}, not a ${kind}`);
  const c = manifest.config;
  const num = (k: string) => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 4096)
      throw new CheckpointError('shape', `checkpoint config field '${k}' is not a sensible positive integer`);
    return v;
  };
  const cfg: ModelConfig = {
    vocabSize: num('vocabSize'),
    blockSize: num('blockSize'),
    nLayer: num('nLayer'),
    nHead: num('nHead'),
    dModel: num('dModel'),
    dMlp: num('dMlp'),
    kind: manifest.kind,
  };
  if (cfg.dModel % cfg.nHead !== 0)
    throw new CheckpointError('shape', 'checkpoint config: dModel not divisible by nHead');
  return cfg;
}
