import { EOS, PROMPT_END, STEP_END } from './format';
import type { Task } from './tasks/types';

/** Char-level tokenizer over a task's fixed alphabet. Id 0 is PAD (never a real char); ids 1..n are `chars` in order. */
export class Tokenizer {
  readonly padId = 0;
  readonly vocabSize: number;
  readonly eosId: number;
  readonly stepEndId: number;
  readonly promptEndId: number;
  private readonly ids = new Map<string, number>();

  constructor(readonly chars: string) {
    for (const ch of chars) {
      if (this.ids.has(ch)) throw new Error(`Tokenizer: duplicate character '${ch}' in "${chars}"`);
      this.ids.set(ch, this.ids.size + 1);
    }
    this.vocabSize = this.ids.size + 1;
    this.eosId = this.id(EOS);
    this.stepEndId = this.id(STEP_END);
    this.promptEndId = this.id(PROMPT_END);
  }

  id(ch: string): number {
    const id = this.ids.get(ch);
    if (id === undefined)
      throw new Error(`Tokenizer: unknown character '${ch}' (vocabulary "${this.chars}")`);
    return id;
  }

  encode(text: string): Int32Array {
    const out = new Int32Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const id = this.ids.get(text[i]);
      if (id === undefined)
        throw new Error(
          `Tokenizer: unknown character '${text[i]}' at ${i} in "${text}" (vocabulary "${this.chars}")`,
        );
      out[i] = id;
    }
    return out;
  }

  /** Text of the ids, skipping PAD. Throws on an id outside the vocabulary. */
  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === this.padId) continue;
      if (!Number.isInteger(id) || id < 1 || id > this.chars.length)
        throw new Error(`Tokenizer: id ${id} out of range [0, ${this.vocabSize})`);
      s += this.chars[id - 1];
    }
    return s;
  }

  /** True for the ids that end a step (';') or the completion ('.'): where the PRM reads its score. */
  isTerminatorId(id: number): boolean {
    return id === this.stepEndId || id === this.eosId;
  }
}

export function tokenizerFor(task: Task): Tokenizer {
  return new Tokenizer(task.chars);
}
