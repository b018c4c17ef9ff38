import { describe, expect, it } from 'vitest';
import type {
  BackendInfo,
  Session,
  SessionEventMap,
  SessionListener,
  SessionOptions,
  SessionState,
} from '../src/browser/session-api';
import type { EvalResult } from '../src/core/evaluate';
import { parseRlConfig, type RlConfig } from '../src/core/rl/config';
import type { RunSummary } from '../src/core/rl/run';
import type { IterationMetrics, IterationResult } from '../src/core/rl/trainer';
import { combinedPhase, mergeEval, RunModel, throughput } from '../src/ui/run-model';

const WASM: BackendInfo = { backend: 'wasm', requested: 'wasm', adapter: null, threads: 1 };

function iteration(iter: number): IterationResult {
  const metrics = {
    iter,
    trainedTokens: 300,
    timeMs: { generate: 100, prm: 0, rectify: 0, update: 200, total: 300 },
  } as IterationMetrics;
  return {
    metrics,
    rollouts: [
      {
        segments: [
          { text: 'abc;', role: 'on' },
          { text: 'de;', role: 'off' },
          { text: 'f.', role: 'on' },
        ],
      },
      {
        segments: [
          { text: '12345', role: 'masked' },
          { text: '6789', role: 'on' },
        ],
      },
    ] as IterationResult['rollouts'],
  };
}

/** A session that trains instantly, one iteration per macrotask, so pause lands between iterations. */
class FakeSession implements Session {
  state: SessionState = 'ready';
  iter = 0;
  backendInfo = WASM;
  runId = 'run-1';
  disposed = false;
  private listeners = new Map<string, Set<(d: unknown) => void>>();
  private stop = false;
  constructor(readonly config: RlConfig) {}
  on<K extends keyof SessionEventMap>(type: K, l: SessionListener<K>) {
    const set = this.listeners.get(type) ?? new Set();
    set.add(l as (d: unknown) => void);
    this.listeners.set(type, set);
    return () => set.delete(l as (d: unknown) => void);
  }
  emit<K extends keyof SessionEventMap>(type: K, d: SessionEventMap[K]) {
    for (const l of this.listeners.get(type) ?? []) l(d);
  }
  private setState(s: SessionState) {
    this.state = s;
    this.emit('state', { state: s, iter: this.iter });
  }
  private async one() {
    if (this.iter === 0) this.emit('eval', { iter: 0, result: { testAccSampled: 0.2 } as EvalResult });
    this.iter++;
    const r = iteration(this.iter);
    this.emit('iteration', r);
    return r;
  }
  async start(): Promise<RunSummary | null> {
    this.stop = false;
    this.setState('running');
    while (this.iter < this.config.iters && !this.stop) {
      await this.one();
      await new Promise((r) => setTimeout(r, 0));
    }
    if (this.iter >= this.config.iters) {
      this.setState('done');
      this.emit('done', { iters: this.iter } as RunSummary);
      return { iters: this.iter } as RunSummary;
    }
    this.setState('paused');
    return null;
  }
  async pause() {
    this.stop = true;
    await new Promise((r) => setTimeout(r, 5));
  }
  async stepOnce() {
    const r = await this.one();
    this.setState('paused');
    return r;
  }
  async reset() {
    this.iter = 0;
    this.setState('ready');
  }
  async dispose() {
    this.disposed = true;
  }
}

function model(iters = 5, fail?: string) {
  const sessions: FakeSession[] = [];
  const factory = async (opts: SessionOptions) => {
    if (fail) throw new Error(fail);
    const s = new FakeSession(parseRlConfig(opts.config));
    sessions.push(s);
    return s;
  };
  const m = new RunModel(
    factory,
    { config: { task: 'add', algo: 'scope', iters }, backend: 'wasm', assetsBase: '/' },
    'SCOPE',
  );
  return { m, sessions };
}

describe('RunModel', () => {
  it('loads nothing until asked, then records every iteration and evaluation of a run', async () => {
    const { m, sessions } = model(3);
    expect(m.phase).toBe('idle');
    expect(sessions).toHaveLength(0);
    const seen: number[] = [];
    m.addEventListener('iteration', (e) =>
      seen.push((e as CustomEvent<IterationResult>).detail.metrics.iter),
    );
    const summary = await m.train();
    expect(summary).toEqual({ iters: 3 });
    expect(m.phase).toBe('done');
    expect(m.metrics.map((x) => x.iter)).toEqual([1, 2, 3]);
    expect(m.evals.map((e) => e.iter)).toEqual([0]);
    expect(m.latest?.metrics.iter).toBe(3);
    expect(m.backend).toEqual(WASM);
    expect(m.history.label).toBe('SCOPE');
    expect(seen).toEqual([1, 2, 3]);
    expect(m.summary).toEqual({ iters: 3 });
  });

  it('pauses between iterations, steps once, and reset clears the history', async () => {
    const { m } = model(1000);
    const running = m.train();
    await new Promise((r) => setTimeout(r, 20));
    await m.pause();
    expect(await running).toBeNull();
    expect(m.phase).toBe('paused');
    const at = m.iter;
    expect(at).toBeGreaterThan(0);
    await m.step();
    expect(m.iter).toBe(at + 1);
    await m.reset();
    expect(m.metrics).toEqual([]);
    expect(m.evals).toEqual([]);
    expect(m.latest).toBeNull();
    expect(m.iter).toBe(0);
  });

  it('a failing session factory becomes a readable error, not a rejection', async () => {
    const { m } = model(3, 'could not load the policy checkpoint: 404');
    const errors: string[] = [];
    m.addEventListener('error', (e) => errors.push((e as CustomEvent<{ message: string }>).detail.message));
    expect(await m.train()).toBeNull();
    expect(m.phase).toBe('error');
    expect(m.error).toBe('could not load the policy checkpoint: 404');
    expect(errors).toEqual([m.error]);
  });

  it('a replayed iteration replaces the history from that point', async () => {
    const { m, sessions } = model(3);
    await m.train();
    sessions[0].emit('iteration', iteration(2));
    expect(m.metrics.map((x) => x.iter)).toEqual([1, 2]);
  });

  it('disposes its session', async () => {
    const { m, sessions } = model(2);
    await m.load();
    await m.dispose();
    expect(sessions[0].disposed).toBe(true);
  });

  it('prefills a resumed run with its stored metrics, evaluations included', () => {
    const { m } = model(10);
    m.preload([
      { iter: 2 } as IterationMetrics,
      { iter: 1, eval: { testAccSampled: 0.3 } } as IterationMetrics,
    ]);
    expect(m.metrics.map((x) => x.iter)).toEqual([1, 2]);
    expect(m.evals).toEqual([{ iter: 1, result: { testAccSampled: 0.3 } }]);
    expect(m.iter).toBe(2);
  });
});

describe('evaluating and pausing states (issue 20)', () => {
  it('an evaluation in progress shows as `evaluating`, the background one as such', async () => {
    const { m, sessions } = model(5);
    await m.load();
    const s = sessions[0];
    s.emit('activity', { evaluating: true, background: true, iter: 0 });
    expect(m.evaluating).toEqual({ background: true, iter: 0 });
    s.emit('activity', { evaluating: true, background: false, iter: 10 });
    expect(m.evaluating).toEqual({ background: false, iter: 10 });
    // The background one ending does not clear the inline one.
    s.emit('activity', { evaluating: false, background: true, iter: 0 });
    expect(m.evaluating).toEqual({ background: false, iter: 10 });
    s.emit('activity', { evaluating: false, background: false, iter: 10 });
    expect(m.evaluating).toBeNull();
  });

  it('Pause marks the run `pausing` at once, until it has stopped', async () => {
    const { m } = model(1000);
    const run = m.train();
    await new Promise((r) => setTimeout(r, 5));
    expect(m.phase).toBe('running');
    const paused = m.pause();
    expect(m.pausing).toBe(true);
    await paused;
    await run;
    expect(m.pausing).toBe(false);
    expect(m.phase).toBe('paused');
  });

  it('a late starting evaluation joins the history without dropping later ones', () => {
    const r = (testAccSampled: number) => ({ testAccSampled }) as EvalResult;
    let evals = mergeEval([], { iter: 10, result: r(0.3) });
    evals = mergeEval(evals, { iter: 0, result: r(0.2) });
    expect(evals.map((e) => e.iter)).toEqual([0, 10]);
    // A replayed iteration's evaluation replaces those from its iteration on.
    evals = mergeEval([...evals, { iter: 20, result: r(0.4) }], { iter: 10, result: r(0.35) });
    expect(evals.map((e) => [e.iter, e.result.testAccSampled])).toEqual([
      [0, 0.2],
      [10, 0.35],
    ]);
  });
});

describe('run helpers', () => {
  it('token rates: sampled (on-policy) tokens per generate second, trained tokens per update second', () => {
    // on-policy characters: 'abc;' + 'f.' + '6789' = 10 in 100 ms; 300 trained tokens in 200 ms.
    expect(throughput(iteration(1))).toEqual({ generatedPerSec: 100, trainedPerSec: 1500 });
    const idle = iteration(1);
    idle.metrics.timeMs = { generate: 0, prm: 0, rectify: 0, update: 0, total: 0 };
    expect(throughput(idle)).toEqual({ generatedPerSec: null, trainedPerSec: null });
  });

  it('one phase for two compared runs', () => {
    expect(combinedPhase([])).toBe('idle');
    expect(combinedPhase(['running', 'done'])).toBe('running');
    expect(combinedPhase(['error', 'running'])).toBe('running');
    expect(combinedPhase(['error', 'paused'])).toBe('error');
    expect(combinedPhase(['paused', 'done'])).toBe('paused');
    expect(combinedPhase(['done', 'done'])).toBe('done');
    expect(combinedPhase(['ready', 'done'])).toBe('ready');
    expect(combinedPhase(['loading', 'ready'])).toBe('loading');
  });
});
