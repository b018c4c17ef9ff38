import { describe, expect, it } from 'vitest';
import { advantageSwatch, prmSwatch } from '../src/ui/colors';
import { bytes, ms, num, pct, rate, score, signed } from '../src/ui/format';

describe('formatting', () => {
  it('percentages, with a dash for missing values', () => {
    expect(pct(0.2675)).toBe('26.8%');
    expect(pct(1)).toBe('100.0%');
    expect(pct(null)).toBe('–');
    expect(pct(Number.NaN)).toBe('–');
  });
  it('numbers keep small learning rates readable', () => {
    expect(num(2e-5)).toBe('2.00e-5');
    expect(num(0.12345)).toBe('0.123');
    expect(num(123456)).toBe('1.23e5');
    expect(num(0)).toBe('0');
    expect(num(undefined)).toBe('–');
  });
  it('signed advantages never print -0.00', () => {
    expect(signed(1.234)).toBe('+1.23');
    expect(signed(-0.5)).toBe('-0.50');
    expect(signed(-0.001)).toBe('0.00');
    expect(signed(0.001)).toBe('0.00');
  });
  it('scores in two decimals, tiny ones as <0.01', () => {
    expect(score(0.914)).toBe('0.91');
    expect(score(0.0019)).toBe('<0.01');
    expect(score(0)).toBe('0.00');
    expect(score(1)).toBe('1.00');
    expect(score(null)).toBe('–');
  });
  it('durations, sizes and rates', () => {
    expect(ms(850.4)).toBe('850 ms');
    expect(ms(1234)).toBe('1.2 s');
    expect(ms(125_000)).toBe('2 min 5 s');
    expect(bytes(512)).toBe('512 B');
    expect(bytes(1_263_360)).toBe('1.3 MB');
    expect(rate(1234.4)).toBe('1,234/s');
  });
});

const hue = (css: string) => Number(/hsl\((\d+)/.exec(css)?.[1]);
const light = (css: string) => Number(/(\d+)%\)$/.exec(css)?.[1]);

describe('colour scales', () => {
  it('PRM: red at 0, amber at tau, green at 1, monotone in between', () => {
    expect(hue(prmSwatch(0).background)).toBe(0);
    expect(hue(prmSwatch(0.5).background)).toBe(45);
    expect(hue(prmSwatch(1).background)).toBe(130);
    expect(hue(prmSwatch(0.3, 0.3).background)).toBe(45);
    const hues = [0, 0.1, 0.3, 0.49, 0.51, 0.8, 1].map((s) => hue(prmSwatch(s).background));
    expect([...hues].sort((a, b) => a - b)).toEqual(hues);
  });
  it('PRM: out-of-range and NaN scores are clamped, not thrown', () => {
    expect(prmSwatch(2).background).toBe(prmSwatch(1).background);
    expect(prmSwatch(Number.NaN).background).toBe(prmSwatch(0).background);
  });
  it('advantage: blue above zero, red below, paler near zero, saturating at the scale', () => {
    expect(hue(advantageSwatch(1).background)).toBe(215);
    expect(hue(advantageSwatch(-1).background)).toBe(0);
    expect(light(advantageSwatch(0).background)).toBe(97);
    expect(light(advantageSwatch(0.5).background)).toBeGreaterThan(light(advantageSwatch(1.5).background));
    expect(advantageSwatch(5).background).toBe(advantageSwatch(2).background);
    expect(advantageSwatch(-5).background).toBe(advantageSwatch(-2).background);
  });
});
