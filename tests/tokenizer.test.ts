import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderCompletion } from '../src/core/format';
import { Rng } from '../src/core/rng';
import { addTask, arithTask, SPLITS, type Task } from '../src/core/tasks/index';
import { Tokenizer, tokenizerFor } from '../src/core/tokenizer';

describe.each([addTask, arithTask] as Task[])('tokenizer for $name', (task) => {
  const tok = tokenizerFor(task);

  it('reserves id 0 for PAD and maps chars to 1..n in order', () => {
    expect(tok.padId).toBe(0);
    expect(tok.vocabSize).toBe(task.chars.length + 1);
    [...task.chars].forEach((ch, i) => {
      expect(tok.id(ch)).toBe(i + 1);
    });
    expect(tok.eosId).toBe(task.chars.indexOf('.') + 1);
    expect(tok.stepEndId).toBe(task.chars.indexOf(';') + 1);
    expect(tok.promptEndId).toBe(task.chars.indexOf(':') + 1);
    const terminators = Array.from({ length: tok.vocabSize }, (_, id) => id).filter((id) =>
      tok.isTerminatorId(id),
    );
    expect(terminators.map((id) => tok.decode([id])).sort()).toEqual(['.', ';']);
  });

  it('round-trips every sampled sequence and corrupted step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(...SPLITS), (s, split) => {
        const rng = new Rng(s);
        const p = task.sample(rng, split);
        const sol = task.solve(p);
        const seq = `${p.prompt}:${renderCompletion(sol)}`;
        const ids = tok.encode(seq);
        expect(ids).toBeInstanceOf(Int32Array);
        expect(ids).toHaveLength(seq.length);
        expect(ids.every((id) => id >= 1 && id < tok.vocabSize)).toBe(true);
        expect(tok.decode(ids)).toBe(seq);
        const bad = task.corruptStep(rng, p, sol.slice(0, rng.int(0, sol.length - 1)));
        expect(tok.decode(tok.encode(bad))).toBe(bad);
      }),
      { numRuns: 200 },
    );
  });

  it('decode skips PAD and rejects ids outside the vocabulary', () => {
    const ids = tok.encode('12+3');
    expect(tok.decode([0, ...ids, 0, 0])).toBe('12+3');
    expect(tok.decode(new Int32Array(4))).toBe('');
    expect(() => tok.decode([tok.vocabSize])).toThrow(/out of range/);
    expect(() => tok.decode([-1])).toThrow(/out of range/);
  });

  it('encode names an unknown character', () => {
    expect(() => tok.encode('1+x')).toThrow(/unknown character 'x'/);
    expect(() => tok.encode(' ')).toThrow(/unknown character ' '/);
    expect(() => tok.id('?')).toThrow(/unknown character '\?'/);
  });
});

describe('Tokenizer', () => {
  it('add has no minus or parens; arith has them', () => {
    expect(() => tokenizerFor(addTask).encode('3-1')).toThrow(/unknown character '-'/);
    expect(tokenizerFor(arithTask).decode(tokenizerFor(arithTask).encode('(3-1)*2'))).toBe('(3-1)*2');
  });

  it('rejects duplicate characters and alphabets without the format markers', () => {
    expect(() => new Tokenizer('0123:;>..')).toThrow(/duplicate/);
    expect(() => new Tokenizer('0123:;>')).toThrow(/unknown character '\.'/);
  });
});
