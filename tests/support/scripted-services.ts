/**
 * Service doubles for driving the real Trainer on hand-made cases: the policy's generations follow
 * a script and its updates are recorded (batch and options), not applied; the PRM's step scores
 * follow a script. Everything the trainer and the algorithms compute stays the production code.
 */
import type { EvalOptions, EvalResult } from '../../src/core/evaluate';
import type { UpdateBatch } from '../../src/core/rl/batch';
import type {
  GenerateRequest,
  PolicyService,
  PrmService,
  UpdateOptions,
  UpdateStats,
} from '../../src/core/rl/services';

/** Behaviour log-probs of a scripted text: by default -0.01 * (j + 1) for character j. */
export type LogpScript = (text: string, req: GenerateRequest) => number[];
const fallingLogps: LogpScript = (text) => Array.from(text, (_, j) => -0.01 * (j + 1));

/** Distinct, recognisable stats, so a metric copied from the wrong field shows. */
export const SCRIPTED_STATS: UpdateStats = {
  loss: 0.125,
  gradNorm: 2.5,
  clipFraction: 0.375,
  kl: 0.0625,
  entropy: 1.75,
  skipped: 3,
};

export class ScriptedPolicy implements PolicyService {
  /** Every generate call's requests, in order. */
  readonly requests: GenerateRequest[][] = [];
  readonly generateOptions: { temperature: number; topP: number; greedy?: boolean }[] = [];
  readonly updates: UpdateBatch[] = [];
  readonly options: UpdateOptions[] = [];
  readonly evaluations: Partial<EvalOptions>[] = [];

  /** `script(req, i, call)`: the text for request i of generate call `call` (0-based). */
  constructor(
    private readonly script: (req: GenerateRequest, i: number, call: number) => string,
    private readonly logps: LogpScript = fallingLogps,
  ) {}

  async describe() {
    return { backend: 'scripted', task: 'add', params: 0, step: 0 };
  }
  async generate(reqs: GenerateRequest[], opts: { temperature: number; topP: number; greedy?: boolean }) {
    const call = this.requests.length;
    this.requests.push(reqs);
    this.generateOptions.push(opts);
    const texts = reqs.map((r, i) => this.script(r, i, call));
    return { texts, logps: texts.map((t, i) => Float32Array.from(this.logps(t, reqs[i]))) };
  }
  async update(batch: UpdateBatch, o: UpdateOptions) {
    this.updates.push(batch);
    this.options.push(o);
    return { ...SCRIPTED_STATS };
  }
  async evaluate(o: Partial<EvalOptions>): Promise<EvalResult> {
    this.evaluations.push(o);
    return {} as EvalResult;
  }
  async checkpoint() {
    return { manifestJson: '{}', blob: new Uint8Array() };
  }
  async load() {}
  async numTensors() {
    return 0;
  }
}

/** A PRM whose scores follow a script; the items it was asked about are recorded. */
export class ScriptedPrm implements PrmService {
  readonly asked: { prompt: string; completion: string }[][] = [];
  constructor(private readonly script: (completion: string) => number[]) {}
  async scoreSteps(items: { prompt: string; completion: string }[]) {
    this.asked.push(items);
    return items.map((it) => this.script(it.completion));
  }
}

/** The row b of a per-prediction array [B, T-1], from position `from` for `len` positions. */
export function rowOf<T extends Float32Array | Uint8Array>(
  arr: T,
  batch: UpdateBatch,
  b: number,
  from = 0,
  len = batch.T - 1 - from,
): number[] {
  const start = b * (batch.T - 1) + from;
  return Array.from(arr.subarray(start, start + len));
}
