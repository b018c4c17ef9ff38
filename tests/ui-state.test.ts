import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALGOS, DEFAULT_RL, parseRlConfig } from '../src/core/rl/config';
import { KNOB_INFO, knobApplies, knobRange, UI_KNOBS } from '../src/ui/knobs';
import {
  BACKENDS,
  DEFAULT_STATE,
  PAGE_OVERRIDES,
  parseField,
  parseHash,
  STATE_KEYS,
  serialiseHash,
  stateFromConfig,
  stateIssues,
  toRlConfig,
  type UiState,
} from '../src/ui/state';

describe('default state', () => {
  it('takes every knob default from DEFAULT_RL except the documented page overrides', () => {
    for (const k of UI_KNOBS)
      expect(DEFAULT_STATE[k]).toEqual(k in PAGE_OVERRIDES ? PAGE_OVERRIDES[k] : DEFAULT_RL[k]);
    expect(DEFAULT_STATE.task).toBe(DEFAULT_RL.task);
    expect(DEFAULT_STATE.algo).toBe(DEFAULT_RL.algo);
  });
  it('is a valid config for the session', () => {
    expect(() => parseRlConfig(toRlConfig(DEFAULT_STATE))).not.toThrow();
    expect(stateIssues(DEFAULT_STATE)).toEqual([]);
  });
  it('documents every knob and derives ranges from the schema', () => {
    for (const k of UI_KNOBS) expect(KNOB_INFO[k].help.length).toBeGreaterThan(10);
    expect(knobRange('groupSize')).toEqual({ min: 2, max: 64, int: true, nullable: false });
    expect(knobRange('rectifyCap')).toMatchObject({ min: 0, int: true, nullable: true });
    expect(knobRange('lr').int).toBe(false);
  });
  it('knows which knobs apply to which algorithm', () => {
    expect(knobApplies('tau', ['scope'])).toBe(true);
    expect(knobApplies('tau', ['grpo'])).toBe(false);
    expect(knobApplies('tau', ['grpo', 'scope'])).toBe(true);
    expect(knobApplies('lr', ['rrpo'])).toBe(true);
  });
});

describe('hash round trip', () => {
  it('an empty hash gives the defaults and no notice', () => {
    expect(parseHash('')).toEqual({ state: DEFAULT_STATE, notices: [] });
    expect(parseHash('#')).toEqual({ state: DEFAULT_STATE, notices: [] });
  });

  it('serialises every key in a fixed order', () => {
    const keys = [...new URLSearchParams(serialiseHash(DEFAULT_STATE).slice(1)).keys()];
    expect(keys).toEqual([...STATE_KEYS]);
  });

  const stateArb: fc.Arbitrary<UiState> = fc
    .record({
      scenario: fc.constantFrom('sharpen' as const, 'edge' as const),
      task: fc.constantFrom('add', 'arith'),
      algo: fc.constantFrom(...ALGOS),
      iters: fc.integer({ min: 1, max: 100_000 }),
      seed: fc.integer({ min: 0, max: 2 ** 31 }),
      promptsPerIter: fc.integer({ min: 1, max: 256 }),
      groupSize: fc.integer({ min: 1, max: 32 }).map((h) => 2 * h),
      lr: fc.double({ min: 1e-7, max: 1, noNaN: true }),
      temperature: fc.double({ min: 0.01, max: 10, noNaN: true }),
      tau: fc.double({ min: 0.01, max: 0.99, noNaN: true }),
      rectifyCap: fc.option(fc.integer({ min: 0, max: 64 }), { nil: null }),
      gamma: fc.double({ min: 1e-4, max: 10, noNaN: true }),
      beta: fc.double({ min: 0, max: 1, noNaN: true }),
      pMin: fc.double({ min: 0.01, max: 0.99, noNaN: true }),
      evalEvery: fc.integer({ min: 1, max: 1000 }),
      evalN: fc.integer({ min: 1, max: 10_000 }),
      backend: fc.constantFrom(...BACKENDS),
      compare: fc.option(fc.constantFrom(...ALGOS), { nil: null }),
      colorBy: fc.constantFrom('prm' as const, 'advantage' as const),
    })
    .filter((s) => s.compare !== s.algo && (s.scenario === 'sharpen' || s.task === 'add'));

  it('parse(serialise(state)) === state for any valid state', () => {
    fc.assert(
      fc.property(stateArb, (s) => {
        const { state, notices } = parseHash(serialiseHash(s));
        expect(notices).toEqual([]);
        expect(state).toEqual(s);
      }),
    );
  });
});

describe('invalid values fall back to defaults with a notice', () => {
  it('names each bad value and what it was reset to', () => {
    const { state, notices } = parseHash('#algo=nope&groupSize=abc&lr=-1&tau=1.5&iters=3&backend=gpu');
    expect(state.algo).toBe(DEFAULT_STATE.algo);
    expect(state.groupSize).toBe(DEFAULT_STATE.groupSize);
    expect(state.lr).toBe(DEFAULT_STATE.lr);
    expect(state.tau).toBe(DEFAULT_STATE.tau);
    expect(state.backend).toBe('auto');
    expect(state.iters).toBe(3);
    expect(notices).toHaveLength(5);
    expect(notices[0]).toMatch(/^algo='nope': .*reset to scope/);
    expect(notices[1]).toMatch(/groupSize='abc': 'abc' is not a number; reset to 8/);
    expect(notices.join('\n')).toMatch(/lr='-1'/);
  });
  it('ignores unknown keys, loudly', () => {
    const { state, notices } = parseHash('#foo=1&task=arith');
    expect(state.task).toBe('arith');
    expect(notices).toEqual(["unknown setting 'foo' ignored"]);
  });
  it('rejects a non-integer where the schema wants one', () => {
    expect(parseField('groupSize', '3.5').ok).toBe(false);
    expect(parseField('iters', '').ok).toBe(false);
    expect(parseField('rectifyCap', '')).toEqual({ ok: true, value: null });
    expect(parseField('rectifyCap', '2')).toEqual({ ok: true, value: 2 });
    expect(parseField('lr', '2e-5')).toEqual({ ok: true, value: 2e-5 });
  });
  it('resets a cross-field conflict: RRPO with an odd group size', () => {
    const { state, notices } = parseHash('#algo=rrpo&groupSize=5');
    expect(state.algo).toBe('rrpo');
    expect(state.groupSize).toBe(DEFAULT_STATE.groupSize);
    expect(notices.join()).toMatch(/groupSize: .*G must be even/);
  });
  it('checks the compared algorithm too, and refuses comparing an algorithm with itself', () => {
    expect(stateIssues({ ...DEFAULT_STATE, algo: 'grpo', compare: 'srpo', groupSize: 7 })).toEqual([
      { key: 'groupSize', message: 'srpo splits G in two groups: G must be even' },
    ]);
    const { state, notices } = parseHash('#algo=grpo&compare=grpo');
    expect(state.compare).toBeNull();
    expect(notices).toHaveLength(1);
  });
});

describe('resuming a stored run', () => {
  it('takes task, algorithm and knobs from the run config, keeps the view, turns compare off', () => {
    const config = parseRlConfig({ task: 'arith', algo: 'rrpo', groupSize: 6, lr: 1e-5, iters: 50 });
    const before: UiState = { ...DEFAULT_STATE, compare: 'grpo', colorBy: 'advantage', backend: 'cpu' };
    const s = stateFromConfig(before, config);
    expect(s).toMatchObject({ task: 'arith', algo: 'rrpo', groupSize: 6, lr: 1e-5, iters: 50 });
    expect(s).toMatchObject({ compare: null, colorBy: 'advantage', backend: 'cpu' });
    expect(toRlConfig(s)).toMatchObject({ task: 'arith', algo: 'rrpo', groupSize: 6, lr: 1e-5, iters: 50 });
  });
});

describe('scenario (the page lesson)', () => {
  it("choosing a scenario takes its knobs; its hidden ones reach the config; the page's edge evaluation is small", async () => {
    const { withScenario, scenarioOf } = await import('../src/ui/state');
    const edge = withScenario({ ...DEFAULT_STATE, iters: 30 }, 'edge');
    expect(edge).toMatchObject({
      scenario: 'edge',
      task: 'add',
      lr: 3e-5,
      promptsPerIter: 16,
      iters: 30,
      evalEvery: 10,
    });
    const c = toRlConfig(edge);
    expect(c).toMatchObject({
      trainSplit: 'edge-train',
      trainMix: 0.5,
      outputGainLr: 3e-5,
      edgeEvalN: edge.evalN,
    });
    expect(scenarioOf(c)).toBe('edge');
    const back = withScenario(edge, 'sharpen');
    expect(toRlConfig(back)).toMatchObject({ trainSplit: 'train', edgeEvalN: 0, lr: DEFAULT_STATE.lr });
    expect(parseHash('#scenario=hard').notices[0]).toMatch(/scenario='hard'/);
  });
});
