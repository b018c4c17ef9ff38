import { describe, expect, it } from 'vitest';
import { DEFAULT_RL } from '../src/core/rl/config';
import {
  parseWidgetAttributes,
  sessionOptions,
  storageNamespace,
  WIDGET_DEFAULTS,
  type WidgetAttribute,
  WidgetAttributeError,
} from '../src/widget/attributes';

const PAGE = 'https://host.example/tutorial/page.html';
const parse = (attrs: Partial<Record<WidgetAttribute, string>>) =>
  parseWidgetAttributes((n) => attrs[n] ?? null, PAGE);
const failure = (attrs: Partial<Record<WidgetAttribute, string>>) => {
  try {
    parse(attrs);
  } catch (e) {
    expect(e).toBeInstanceOf(WidgetAttributeError);
    return (e as Error).message;
  }
  throw new Error('expected the attributes to be rejected');
};

describe('<scope-trainer> attributes', () => {
  it('defaults: the widget defaults over DEFAULT_RL', () => {
    const spec = parse({});
    expect(spec.config).toEqual({
      ...DEFAULT_RL,
      task: WIDGET_DEFAULTS.task,
      algo: WIDGET_DEFAULTS.algo,
      iters: WIDGET_DEFAULTS.iters,
      seed: WIDGET_DEFAULTS.seed,
      evalN: WIDGET_DEFAULTS.evalN,
      evalEvery: WIDGET_DEFAULTS.evalEvery,
    });
    expect(spec).toMatchObject({ backend: 'auto', view: 'compact', autostart: false, assets: null });
  });

  it('reads every attribute', () => {
    const spec = parse({
      task: 'arith',
      algo: 'grpo',
      iters: '3',
      seed: '7',
      backend: 'wasm',
      view: 'full',
      autostart: '',
      assets: '../models',
    });
    expect(spec.config).toMatchObject({ task: 'arith', algo: 'grpo', iters: 3, seed: 7 });
    expect(spec).toMatchObject({ backend: 'wasm', view: 'full', autostart: true });
    expect(spec.assets?.href).toBe('https://host.example/models/');
  });

  it('autostart is a boolean attribute; "false" turns it off', () => {
    expect(parse({ autostart: 'autostart' }).autostart).toBe(true);
    expect(parse({ autostart: 'true' }).autostart).toBe(true);
    expect(parse({ autostart: 'false' }).autostart).toBe(false);
    expect(failure({ autostart: 'yes please' })).toMatch(/^invalid autostart "yes please"/);
  });

  it('bad values give one message naming the attribute and the value', () => {
    expect(failure({ task: 'nope' })).toMatch(/^invalid task "nope": .*"add".*"arith"/);
    expect(failure({ algo: 'ppo' })).toMatch(/^invalid algo "ppo"/);
    expect(failure({ iters: 'ten' })).toMatch(/^invalid iters "ten"/);
    expect(failure({ iters: '0' })).toMatch(/^invalid iters 0/);
    expect(failure({ iters: '2.5' })).toMatch(/^invalid iters "2.5"/);
    expect(failure({ seed: '-1' })).toMatch(/^invalid seed -1/);
    expect(failure({ backend: 'gpu' })).toMatch(/^invalid backend "gpu"/);
    expect(failure({ view: 'huge' })).toMatch(/^invalid view "huge"/);
  });

  it('text that looks like code stays text', () => {
    expect(failure({ task: 'alert(1)' })).toMatch(/^invalid task "alert\(1\)"/);
    expect(failure({ iters: '1e3' })).toMatch(/^invalid iters "1e3"/);
    expect(failure({ assets: 'javascript:alert(1)' })).toMatch(/only http\(s\) URLs/);
    expect(failure({ assets: 'data:text/plain,x' })).toMatch(/only http\(s\) URLs/);
  });

  it('storage namespaces: id, else name, else the position on the page', () => {
    expect(storageNamespace('grpo-demo', 'x', 1)).toBe('scope-trainer/grpo-demo');
    expect(storageNamespace(null, 'second', 2)).toBe('scope-trainer/second');
    expect(storageNamespace('  ', null, 3)).toBe('scope-trainer/#3');
  });

  it('session options: checkpoints next to the module unless `assets` says otherwise', () => {
    const base = 'https://cdn.example/widget/';
    expect(sessionOptions(parse({}), base, 'ns')).toMatchObject({
      assetsBase: base,
      storageNamespace: 'ns',
      autosaveEvery: WIDGET_DEFAULTS.autosaveEvery,
    });
    expect(String(sessionOptions(parse({ assets: 'https://x.example/m' }), base, null).assetsBase)).toBe(
      'https://x.example/m/',
    );
  });
});

describe('<scope-trainer> knob attributes (issue 20 item 7)', () => {
  it('scenario, tau, group-size, lr, eval-n, race and chart', () => {
    const spec = parse({
      algo: 'scope',
      tau: '0.3',
      'group-size': '6',
      lr: '3e-5',
      'eval-n': '20',
      race: 'grpo',
      chart: 'accuracy',
    });
    expect(spec.config).toMatchObject({ algo: 'scope', tau: 0.3, groupSize: 6, lr: 3e-5, evalN: 20 });
    expect(spec.race).toMatchObject({ algo: 'grpo', tau: 0.3, groupSize: 6, lr: 3e-5, evalN: 20 });
    expect(spec).toMatchObject({ scenario: 'sharpen', chart: 'accuracy' });
    expect(parse({}).race).toBeNull();
  });

  it('the edge scenario: its knobs under the attributes, its edge evaluation as large as the others', () => {
    const spec = parse({ scenario: 'edge', 'eval-n': '30' });
    expect(spec.config).toMatchObject({ task: 'add', trainSplit: 'edge-train', evalN: 30, edgeEvalN: 30 });
    expect(parse({ scenario: 'edge', lr: '1e-4' }).config.lr).toBe(1e-4);
    expect(failure({ scenario: 'edge', task: 'arith' })).toMatch(/runs on add/);
  });

  it('bad knob values name the attribute and the value', () => {
    expect(failure({ scenario: 'hard' })).toMatch(/^invalid scenario "hard"/);
    expect(failure({ tau: 'high' })).toMatch(/^invalid tau "high"/);
    expect(failure({ tau: '2' })).toMatch(/^invalid tau 2/);
    expect(failure({ 'group-size': '1e1' })).toMatch(/^invalid groupSize "1e1"/);
    expect(failure({ lr: '-1' })).toMatch(/^invalid lr -1/);
    expect(failure({ 'eval-n': '0' })).toMatch(/^invalid evalN 0/);
    expect(failure({ race: 'scope' })).toMatch(/^invalid race "scope": race needs a different algorithm/);
    expect(failure({ race: 'ppo' })).toMatch(/^invalid race "ppo"/);
    expect(failure({ algo: 'grpo', race: 'rrpo', 'group-size': '5' })).toMatch(/^race "rrpo": .*even/);
    expect(failure({ chart: 'pie' })).toMatch(/^invalid chart "pie"/);
  });
});
