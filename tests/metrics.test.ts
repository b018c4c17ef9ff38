import { describe, expect, it } from 'vitest';
import { ci95, correctPaths, diversity, mean, passAtK, rocAuc, std, tCritical95 } from '../src/core/metrics';

describe('passAtK', () => {
  it('known values', () => {
    expect(passAtK(8, 2, 1)).toBeCloseTo(0.25, 12); // 1 - C(6,1)/C(8,1) = 1 - 6/8
    expect(passAtK(8, 0, 1)).toBe(0);
    expect(passAtK(8, 0, 8)).toBe(0);
    expect(passAtK(8, 8, 1)).toBe(1);
    expect(passAtK(8, 2, 2)).toBeCloseTo(13 / 28, 12); // 1 - C(6,2)/C(8,2) = 1 - 15/28
    expect(passAtK(10, 3, 5)).toBeCloseTo(11 / 12, 12); // 1 - C(7,5)/C(10,5) = 1 - 21/252
    expect(passAtK(8, 7, 2)).toBe(1); // n - c = 1 < k: every pair contains a success
    expect(passAtK(1000, 1, 1)).toBeCloseTo(0.001, 12); // stable for large n
  });
  it('rejects impossible arguments', () => {
    expect(() => passAtK(8, 9, 1)).toThrow();
    expect(() => passAtK(8, 2, 0)).toThrow();
  });
});

describe('diversity and correctPaths', () => {
  it('diversity = mean of distinct/size', () => {
    // (3/4 + 1/4) / 2 = 0.5
    expect(
      diversity([
        ['a', 'a', 'b', 'c'],
        ['x', 'x', 'x', 'x'],
      ]),
    ).toBeCloseTo(0.5, 12);
    expect(diversity([])).toBeNaN();
  });
  it('correctPaths = mean distinct correct keys', () => {
    // prompt 1: correct {a, b} -> 2; prompt 2: none -> 0; mean 1
    expect(
      correctPaths([
        [
          { key: 'a', correct: true },
          { key: 'a', correct: true },
          { key: 'b', correct: true },
          { key: 'c', correct: false },
        ],
        [
          { key: 'x', correct: false },
          { key: 'y', correct: false },
        ],
      ]),
    ).toBe(1);
  });
});

describe('mean, std, ci95', () => {
  it('hand-computed', () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    // squared deviations 2.25+0.25+0.25+2.25 = 5: population sqrt(5/4), sample sqrt(5/3)
    expect(std([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(1.25), 12);
    expect(std([1, 2, 3, 4], 1)).toBeCloseTo(Math.sqrt(5 / 3), 12);
    // t_{0.975,3} = 3.182; 3.182 * sqrt(5/3) / sqrt(4) = 2.0539720
    expect(ci95([1, 2, 3, 4])).toBeCloseTo((3.182 * Math.sqrt(5 / 3)) / 2, 12);
    expect(ci95([5])).toBeNaN();
    expect(mean([])).toBeNaN();
    expect(ci95([2, 2, 2])).toBe(0);
  });
  it('t critical values: table and large-df approximation', () => {
    expect(tCritical95(1)).toBe(12.706);
    expect(tCritical95(30)).toBe(2.042);
    expect(tCritical95(60)).toBeCloseTo(2.0, 2); // table value 2.000
    expect(tCritical95(120)).toBeCloseTo(1.98, 2); // table value 1.980
  });
});

describe('rocAuc', () => {
  it('no ties', () => {
    // positives 0.35, 0.8; negatives 0.1, 0.4: 0.35>0.1, 0.35<0.4, 0.8>both -> 3/4
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
  });
  it('ties count one half', () => {
    // pos {0.5, 0.9}, neg {0.5, 0.1}: pairs 0.5 (tie), 1, 1, 1 -> 3.5/4
    expect(rocAuc([0.5, 0.5, 0.9, 0.1], [true, false, true, false])).toBe(0.875);
    expect(rocAuc([0.3, 0.3, 0.3], [1, 0, 1])).toBe(0.5);
  });
  it('NaN with a missing class', () => {
    expect(rocAuc([0.1, 0.2], [1, 1])).toBeNaN();
  });
});
