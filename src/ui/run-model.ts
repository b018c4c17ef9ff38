/**
 * One training run as the UI sees it: a Session (created lazily through an injected factory) plus
 * everything the panels show about it (metrics history, evaluations, the latest rollouts, backend,
 * errors). No DOM: the page, the compare view and the <scope-trainer> widget all drive runs through
 * this class and re-render on its 'change' event.
 */
import type {
  BackendInfo,
  ProbeAnswer,
  Session,
  SessionEventMap,
  SessionOptions,
  SessionState,
} from '../browser/session-api';
import type { RunSummary } from '../core/rl/run';
import type { IterationMetrics, IterationResult } from '../core/rl/trainer';
import type { EvalPoint, RunHistory } from './series';

export type SessionFactory = (opts: SessionOptions) => Promise<Session>;

/** 'idle': no session yet (nothing loaded); otherwise the session's own state. */
export type RunPhase = 'idle' | SessionState;

export interface Notice {
  level: 'info' | 'warn' | 'error';
  message: string;
}

export interface Throughput {
  /** New tokens sampled per second of the generate phase. */
  generatedPerSec: number | null;
  /** Trained (unmasked) tokens per second of the update phase. */
  trainedPerSec: number | null;
}

/** Token rates of one iteration. Sampled tokens are the policy's own ('on') segment characters. */
export function throughput(r: IterationResult): Throughput {
  const generated = r.rollouts.reduce(
    (n, ro) => n + ro.segments.reduce((k, s) => k + (s.role === 'on' ? s.text.length : 0), 0),
    0,
  );
  const t = r.metrics.timeMs;
  return {
    generatedPerSec: t.generate > 0 ? (generated / t.generate) * 1000 : null,
    trainedPerSec: t.update > 0 ? (r.metrics.trainedTokens / t.update) * 1000 : null,
  };
}

/** A message a person can act on, from whatever was thrown. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === 'string') return e;
  return 'unknown error';
}

export class RunModel extends EventTarget {
  phase: RunPhase = 'idle';
  iter = 0;
  metrics: IterationMetrics[] = [];
  evals: EvalPoint[] = [];
  latest: IterationResult | null = null;
  backend: BackendInfo | null = null;
  summary: RunSummary | null = null;
  error: string | null = null;
  notices: Notice[] = [];
  throughput: Throughput = { generatedPerSec: null, trainedPerSec: null };
  /** An evaluation in progress (`background`: the starting one, in a second worker), else null. */
  evaluating: { background: boolean; iter: number } | null = null;
  /** Pause was pressed and the run has not stopped yet (it stops at the end of the current iteration). */
  pausing = false;
  /** The latest checkpoint the session saved (null before the first). */
  lastCheckpoint: { iter: number; runId: string | null } | null = null;
  private session: Session | null = null;
  private creating: Promise<Session> | null = null;
  private unsubscribe: (() => void)[] = [];
  private disposed = false;

  constructor(
    private readonly factory: SessionFactory,
    readonly options: SessionOptions,
    /** Shown in legends and headings ("SCOPE"). */
    readonly label: string,
  ) {
    super();
  }

  get runId(): string | null {
    return this.session?.runId ?? null;
  }

  get history(): RunHistory {
    return { label: this.label, metrics: this.metrics, evals: this.evals };
  }

  get busy(): boolean {
    return this.phase === 'loading' || this.phase === 'running';
  }

  /** Prefill the charts with a stored run's metrics (resuming from the checkpoints panel). */
  preload(metrics: IterationMetrics[]): void {
    this.metrics = [...metrics].sort((a, b) => a.iter - b.iter);
    this.evals = this.metrics.flatMap((m) => (m.eval ? [{ iter: m.iter, result: m.eval }] : []));
    this.iter = this.metrics.at(-1)?.iter ?? 0;
    this.changed();
  }

  /** Create the session (load checkpoints, start workers) if not done yet. */
  async load(): Promise<Session> {
    if (this.session) return this.session;
    this.creating ??= this.create();
    return this.creating;
  }

  private async create(): Promise<Session> {
    this.phase = 'loading';
    this.error = null;
    this.changed();
    try {
      const s = await this.factory(this.options);
      if (this.disposed) {
        await s.dispose();
        throw new Error('the run was closed while loading');
      }
      this.attach(s);
      return s;
    } catch (e) {
      this.creating = null;
      if (!this.disposed) this.fail(e);
      throw e;
    }
  }

  private attach(s: Session): void {
    this.session = s;
    this.phase = s.state;
    this.iter = Math.max(this.iter, s.iter);
    this.backend = s.backendInfo;
    const on = <K extends keyof SessionEventMap>(k: K, f: (d: SessionEventMap[K]) => void) =>
      this.unsubscribe.push(s.on(k, f));
    on('state', (d) => {
      this.phase = d.state;
      this.iter = d.iter;
      if (d.state !== 'running') this.pausing = false;
      this.changed();
    });
    on('activity', (d) => {
      // The background (starting) evaluation and an inline one can overlap: the inline one shows.
      if (d.evaluating) this.evaluating = { background: d.background, iter: d.iter };
      else if (this.evaluating && this.evaluating.background === d.background) this.evaluating = null;
      this.changed();
    });
    on('backend', (d) => {
      this.backend = d;
      this.changed();
    });
    on('eval', (d) => {
      this.evals = mergeEval(this.evals, { iter: d.iter, result: d.result });
      this.changed();
    });
    on('iteration', (r) => {
      const { eval: _e, ...m } = r.metrics;
      // A replayed or reset iteration replaces the history from that point on.
      this.metrics = [...this.metrics.filter((x) => x.iter < m.iter), m];
      this.latest = r;
      this.iter = m.iter;
      this.throughput = throughput(r);
      this.changed();
      this.dispatchEvent(new CustomEvent('iteration', { detail: r }));
    });
    on('checkpoint', (d) => {
      this.lastCheckpoint = d;
      this.changed();
    });
    on('notice', (d) => {
      this.notices = [...this.notices.slice(-19), d];
      this.changed();
    });
    on('done', (d) => {
      this.summary = d;
      this.changed();
      this.dispatchEvent(new CustomEvent('done', { detail: d }));
    });
    on('error', (d) => this.fail(new Error(d.message)));
    this.changed();
  }

  private fail(e: unknown): void {
    // A session reports a failure twice (its 'error' event, then the rejected call): once is enough.
    if (this.phase === 'error' && this.error === errorMessage(e)) return;
    this.error = errorMessage(e);
    this.phase = 'error';
    this.changed();
    this.dispatchEvent(new CustomEvent('error', { detail: { message: this.error } }));
  }

  /** Run an action, turning any failure into the run's error (shown, never thrown at a click). */
  private async guard<T>(f: (s: Session) => Promise<T>): Promise<T | null> {
    try {
      const s = await this.load();
      this.error = null;
      return await f(s);
    } catch (e) {
      if (!this.disposed) this.fail(e);
      return null;
    }
  }

  /** Train until the end or a pause. */
  train(): Promise<RunSummary | null> {
    return this.guard((s) => s.start());
  }

  /** Ask the run to stop; `pausing` shows at once, the run stops at the end of its current iteration. */
  async pause(): Promise<void> {
    if (!this.session) return;
    if (this.phase === 'running') {
      this.pausing = true;
      this.changed();
    }
    await this.guard((s) => s.pause());
    this.pausing = false;
    this.changed();
  }

  step(): Promise<IterationResult | null> {
    return this.guard((s) => s.stepOnce());
  }

  /** The policy's greedy answer to `prompt` and the PRM's scores (loads the models if needed). */
  async probe(prompt: string): Promise<ProbeAnswer> {
    const s = await this.load();
    if (!s.probe) throw new Error('this session cannot try problems');
    return s.probe(prompt);
  }

  /** Back to the starting checkpoint: the history goes too. */
  async reset(): Promise<void> {
    if (this.session) await this.guard((s) => s.reset());
    this.metrics = [];
    this.evals = [];
    this.latest = null;
    this.summary = null;
    this.iter = 0;
    this.error = null;
    this.evaluating = null;
    this.throughput = { generatedPerSec: null, trainedPerSec: null };
    this.changed();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const u of this.unsubscribe.splice(0)) u();
    const s = this.session ?? (await this.creating?.catch(() => null)) ?? null;
    this.session = null;
    await s?.dispose();
  }

  private changed(): void {
    this.dispatchEvent(new Event('change'));
  }
}

/**
 * The evaluations with `e` added, ascending. A later evaluation replaces the ones from its iteration
 * on (a run replayed after a crash or a reset), except the starting one, which may arrive after the
 * first periodic ones when it runs in a second worker.
 */
export function mergeEval(evals: readonly EvalPoint[], e: EvalPoint): EvalPoint[] {
  const kept = evals.filter((x) => (e.iter === 0 ? x.iter !== 0 : x.iter < e.iter));
  return [...kept, e].sort((a, b) => a.iter - b.iter);
}

/**
 * One phase for several runs trained together (compare mode), for the shared buttons: activity wins
 * (so Pause stays reachable while one run still trains), then an error, then paused; done only when
 * all are done.
 */
export function combinedPhase(phases: readonly RunPhase[]): RunPhase {
  if (phases.length === 0) return 'idle';
  for (const p of ['loading', 'running', 'error', 'paused'] as const) if (phases.includes(p)) return p;
  if (phases.every((p) => p === 'done')) return 'done';
  if (phases.includes('ready')) return 'ready';
  return phases.includes('done') ? 'paused' : 'idle';
}
