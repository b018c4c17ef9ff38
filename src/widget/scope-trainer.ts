/**
 * <scope-trainer>: a training run in a box, for tutorials on pages we do not control. It is the
 * teaching page's components (src/ui) in a smaller frame: one RunModel, <sl-run-buttons compact>,
 * and one chart (`view="compact"`), or the charts, the status and the rollout inspector
 * (`view="full"`).
 *
 * - Attributes (attributes.ts) are validated on connection and on every change; a bad value shows
 *   a message inside the widget and fires `error`. A change of what is trained ends the run.
 * - The session (policy and PRM workers, checkpoints fetched from `assets` or from next to this
 *   module) is created on the first start, so a page with several widgets loads nothing until one
 *   starts. Each widget has its own session and IndexedDB namespace (persistence.ts: one run,
 *   resumed after a reload).
 * - Events (bubbling, composed): `iteration` (detail: the iteration's metrics), `done` (detail: the
 *   run summary), `error` (detail: { message }). The components' own events are not composed: they
 *   stay inside the shadow root.
 * - Everything renders in a shadow root; `:host` keeps `display`/`visibility` against the page's
 *   `!important` rules and `.frame` resets every inherited property.
 */
import { css, html, LitElement, nothing } from 'lit';
import { TrainingSession } from '../browser/session';
import type { BackendInfo, Session, SessionOptions } from '../browser/session-api';
import type { RunSummary } from '../core/rl/run';
import type { IterationMetrics, IterationResult } from '../core/rl/trainer';
import { ALGO_LABEL } from '../ui/knobs';
import '../ui/charts-panel';
import '../ui/metric-chart';
import '../ui/problem-box';
import '../ui/rollout-inspector';
import '../ui/run-buttons';
import { combinedPhase, errorMessage, RunModel, type RunPhase } from '../ui/run-model';
import type { ColorBy } from '../ui/state';
import '../ui/status-bar';
import { base } from '../ui/styles';
import {
  parseWidgetAttributes,
  sessionOptions,
  storageNamespace,
  WIDGET_ATTRIBUTES,
  type WidgetAttribute,
  WidgetAttributeError,
  type WidgetSpec,
} from './attributes';
import { finishedRun, keepOnlyRun, prepareWidgetStore } from './persistence';

/** Attributes whose change means a different run (the others only change the presentation). */
const RUN_ATTRIBUTES: ReadonlySet<string> = new Set<WidgetAttribute>([
  'task',
  'algo',
  'iters',
  'seed',
  'backend',
  'assets',
  'scenario',
  'tau',
  'group-size',
  'lr',
  'eval-n',
  'race',
]);

/** The chart of the compact view (a point every iteration) and the charts of the full view. */
export const COMPACT_CHART = 'reward';
export const FULL_CHARTS = ['reward', 'accuracy'];

/** The IndexedDB store, loaded on first use (as the session does): nothing loads before a start. */
async function openWidgetStore(namespace: string) {
  return (await import('../storage')).openStore(namespace);
}

/** Widgets seen on this page, in order of first connection (the default namespace key). */
let widgetsSeen = 0;
/** Namespaces of the live runs: two widgets never write to one namespace. */
const namespacesInUse = new Set<string>();

export interface ScopeTrainerEventMap {
  iteration: CustomEvent<IterationMetrics>;
  done: CustomEvent<RunSummary>;
  error: CustomEvent<{ message: string }>;
}

export class ScopeTrainer extends LitElement {
  static override properties = {
    problem: { state: true },
    notice: { state: true },
    colorBy: { state: true },
  };

  static override get observedAttributes(): string[] {
    // biome-ignore lint/complexity/noThisInStatic: Lit finalizes the subclass (its reactive state) here
    return [...super.observedAttributes, ...WIDGET_ATTRIBUTES];
  }

  /** The directory of this module: the default base of the shipped checkpoints. */
  static moduleBase = new URL('./', String(import.meta.url)).href;

  /** The message of an invalid attribute (shown; `error` was fired). */
  declare problem: string | null;
  /** Something to know that is not an error (storage unavailable). */
  declare notice: string | null;
  declare colorBy: ColorBy;

  private spec: WidgetSpec | null = null;
  private run: RunModel | null = null;
  /** The second algorithm of `race`, trained beside the first (its own storage namespace). */
  private raceRun: RunModel | null = null;
  private namespace: string | null = null;
  private ordinal = 0;
  private readonly onRunChange = () => this.requestUpdate();
  private readonly onRunIteration = (e: Event) =>
    this.emit('iteration', (e as CustomEvent<IterationResult>).detail.metrics);
  private readonly onRunDone = (e: Event) => this.emit('done', (e as CustomEvent<RunSummary>).detail);
  private readonly onRunError = (e: Event) =>
    this.emit('error', (e as CustomEvent<{ message: string }>).detail);

  constructor() {
    super();
    this.problem = null;
    this.notice = null;
    this.colorBy = 'prm';
  }

  static override styles = [
    base,
    css`
      :host {
        display: block !important;
        visibility: visible !important;
        contain: content;
      }
      :host([hidden]) {
        display: none !important;
      }
      .frame {
        all: initial;
        display: grid;
        gap: 9.6px;
        box-sizing: border-box;
        font-family: var(--sl-font);
        font-size: 15px;
        line-height: 1.4;
        color: var(--sl-fg);
        background: var(--sl-bg);
        border: 1px solid var(--sl-border);
        border-radius: var(--sl-radius);
        padding: 12px;
        min-width: 0;
      }
      .title {
        margin: 0;
        font-size: 16px;
        font-weight: 600;
      }
      .title .muted {
        font-weight: 400;
      }
      .msg {
        margin: 0;
        font-size: 14.1px;
      }
      .msg.error {
        font-weight: 600;
      }
    `,
  ];

  // -----------------------------------------------------------------------------------------------
  // Lifecycle

  override connectedCallback(): void {
    super.connectedCallback();
    if (!this.ordinal) this.ordinal = ++widgetsSeen;
    this.validate();
    if (this.spec?.autostart && !this.run) this.start().catch(() => {});
    else void this.showFinished();
  }

  /**
   * After a reload: a finished run of these settings, stored in this widget's namespace, is shown
   * (its charts and final state) without loading any model. Train after Reset starts a new one.
   */
  private async showFinished(): Promise<void> {
    const spec = this.spec;
    if (!spec || this.run) return;
    const key = storageNamespace(this.getAttribute('id'), this.getAttribute('name'), this.ordinal);
    const read = async (namespace: string, config: WidgetSpec['config']) => {
      try {
        const store = await openWidgetStore(namespace);
        try {
          return await finishedRun(store, config);
        } finally {
          store.close();
        }
      } catch {
        return null; // no storage: nothing to show
      }
    };
    const main = await read(key, spec.config);
    const race = spec.race ? await read(`${key}~race`, spec.race) : null;
    if (!main || this.run || this.spec !== spec || (spec.race && !race)) return;
    this.ensureRun(spec);
    const shown = [this.run, this.raceRun] as (RunModel | null)[];
    [main, race].forEach((metrics, i) => {
      const r = shown[i];
      if (!r || !metrics) return;
      r.preload(metrics);
      r.phase = 'done';
    });
    this.requestUpdate();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    // Moving the element within the page reconnects it in the same task: keep the run then.
    queueMicrotask(() => {
      if (!this.isConnected) void this.drop();
    });
  }

  override attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    super.attributeChangedCallback(name, old, value);
    if (old === value || !this.isConnected) return;
    if (!(WIDGET_ATTRIBUTES as readonly string[]).includes(name)) return;
    if (RUN_ATTRIBUTES.has(name)) void this.drop();
    this.validate();
  }

  /** Re-read the attributes; on a bad value show it and fire `error`. */
  private validate(): void {
    try {
      this.spec = parseWidgetAttributes((n) => this.getAttribute(n), document.baseURI);
      this.problem = null;
    } catch (e) {
      this.spec = null;
      const message =
        e instanceof WidgetAttributeError ? e.message : `invalid attributes: ${errorMessage(e)}`;
      if (message === this.problem) return;
      this.problem = message;
      this.emit('error', { message });
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Public API

  /** The run's current iteration (0 before it starts). */
  get iteration(): number {
    return this.run?.iter ?? 0;
  }

  /** 'idle' before the first start, then the session's state. */
  get phase(): RunPhase {
    return this.run?.phase ?? 'idle';
  }

  /** What the policy worker runs on (null until loaded). */
  get backendInfo(): BackendInfo | null {
    return this.run?.backend ?? null;
  }

  /**
   * Train until the run's `iters` or a pause. Resolves with the summary when done, null when
   * paused; rejects when the attributes are invalid or the run fails (`error` fires too).
   */
  async start(): Promise<RunSummary | null> {
    if (!this.spec) throw new Error(this.problem ?? 'invalid attributes');
    const run = this.ensureRun(this.spec);
    const race = this.raceRun;
    const [summary] = await Promise.all([run.train(), race?.train()]);
    if (run.phase === 'error') throw new Error(run.error ?? 'the run failed');
    if (race?.phase === 'error') throw new Error(race.error ?? 'the raced run failed');
    return summary;
  }

  /** Stop after the current iteration. */
  async pause(): Promise<void> {
    await Promise.all([this.run?.pause(), this.raceRun?.pause()]);
  }

  /** Back to the starting checkpoint and iteration 0 (a run that never loaded starts over). */
  async reset(): Promise<void> {
    const run = this.run;
    if (!run || run.phase === 'idle' || run.phase === 'error') {
      await this.drop();
      return;
    }
    await Promise.all([run.reset(), this.raceRun?.reset()]);
    await this.pruneStorage(run);
    if (this.raceRun) await this.pruneStorage(this.raceRun, '~race');
  }

  // -----------------------------------------------------------------------------------------------
  // The run

  private ensureRun(spec: WidgetSpec): RunModel {
    if (this.run) return this.run;
    const model = (config: WidgetSpec['config'], suffix: string) => {
      const options = sessionOptions(spec, ScopeTrainer.moduleBase, null, config);
      const run = new RunModel(
        (opts) => this.createSession(run, opts, suffix),
        options,
        ALGO_LABEL[config.algo],
      );
      run.addEventListener('change', this.onRunChange);
      run.addEventListener('iteration', this.onRunIteration);
      run.addEventListener('done', this.onRunDone);
      run.addEventListener('error', this.onRunError);
      return run;
    };
    this.run = model(spec.config, '');
    this.raceRun = spec.race ? model(spec.race, '~race') : null;
    this.requestUpdate();
    return this.run;
  }

  /**
   * The session factory: claim the namespace, resume the widget's stored run (or clear stale ones),
   * then start the workers. Storage may be unavailable (private browsing, blocked third-party
   * storage): the widget then trains without saving, and says so.
   */
  private async createSession(run: RunModel, opts: SessionOptions, suffix = ''): Promise<Session> {
    const namespace = this.claimNamespace() + suffix;
    let resumeRunId: string | undefined;
    let persistIn: string | null = namespace;
    try {
      const store = await openWidgetStore(namespace);
      try {
        const resume = await prepareWidgetStore(store, opts.config as WidgetSpec['config']);
        if (resume) {
          resumeRunId = resume.runId;
          run.preload(resume.metrics);
        }
      } finally {
        store.close();
      }
    } catch (e) {
      persistIn = null;
      this.notice = `Progress is not saved: ${errorMessage(e)}`;
    }
    return TrainingSession.create({ ...opts, storageNamespace: persistIn, resumeRunId });
  }

  /** This widget's storage namespace, unique among the live widgets of the page. */
  private claimNamespace(): string {
    if (this.namespace) return this.namespace;
    const key = storageNamespace(this.getAttribute('id'), this.getAttribute('name'), this.ordinal);
    let namespace = key;
    for (let k = 2; namespacesInUse.has(namespace); k++) namespace = `${key}~${k}`;
    namespacesInUse.add(namespace);
    this.namespace = namespace;
    return namespace;
  }

  /** After a reset the old run is of no use: keep only the new one. */
  private async pruneStorage(run: RunModel, suffix = ''): Promise<void> {
    if (!this.namespace || !run.runId) return;
    try {
      const store = await openWidgetStore(this.namespace + suffix);
      try {
        await keepOnlyRun(store, run.runId);
      } finally {
        store.close();
      }
    } catch (e) {
      this.notice = `Old runs could not be deleted: ${errorMessage(e)}`;
    }
  }

  /** End the current run (if any) and forget it. */
  private async drop(): Promise<void> {
    const runs = [this.run, this.raceRun].filter((r): r is RunModel => r !== null);
    this.run = null;
    this.raceRun = null;
    this.notice = null;
    if (this.namespace) namespacesInUse.delete(this.namespace);
    this.namespace = null;
    this.requestUpdate();
    for (const run of runs) {
      run.removeEventListener('change', this.onRunChange);
      run.removeEventListener('iteration', this.onRunIteration);
      run.removeEventListener('done', this.onRunDone);
      run.removeEventListener('error', this.onRunError);
    }
    await Promise.all(runs.map((r) => r.dispose()));
  }

  private emit<K extends keyof ScopeTrainerEventMap>(
    type: K,
    detail: ScopeTrainerEventMap[K]['detail'],
  ): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  // -----------------------------------------------------------------------------------------------
  // View

  override render() {
    const spec = this.spec;
    const run = this.run;
    const full = spec?.view === 'full';
    const race = this.raceRun;
    const models = [run, race].filter((r): r is RunModel => r !== null);
    const runs = models.map((r) => r.history);
    const title = spec
      ? html`${ALGO_LABEL[spec.config.algo]}${spec.race ? ` vs ${ALGO_LABEL[spec.race.algo]}` : ''}
          <span class="muted">on ${spec.config.task}${spec.scenario !== 'sharpen' ? ` (${spec.scenario})` : ''}</span>`
      : 'scope-trainer';
    const phase = combinedPhase(models.map((r) => r.phase));
    return html`<div class="frame" part="frame">
      <h2 class="title" part="title">${title}</h2>
      <sl-run-buttons
        part="controls"
        exportparts="train-button, reset-button, progress"
        compact
        .phase=${phase}
        .iter=${models.length ? Math.min(...models.map((r) => r.iter)) : 0}
        .iters=${spec?.config.iters ?? 0}
        .blocked=${this.problem ?? ''}
        .pausing=${models.some((r) => r.pausing)}
        .activity=${
          models.some((r) => r.evaluating && !r.evaluating.background)
            ? 'evaluating held-out accuracy…'
            : models.some((r) => r.evaluating)
              ? 'evaluating the starting model (in parallel with training)…'
              : ''
        }
        @train=${() => this.start().catch(() => {})}
        @pause=${() => this.pause()}
        @reset=${() => this.reset()}
      ></sl-run-buttons>
      ${
        full
          ? html`<sl-charts part="charts" .runs=${runs} .charts=${FULL_CHARTS}></sl-charts>`
          : html`<sl-chart part="chart" .chart=${spec?.chart ?? COMPACT_CHART} .runs=${runs}></sl-chart>`
      }
      ${this.notice ? html`<p class="msg muted" part="message">${this.notice}</p>` : nothing}
      ${
        full
          ? html`<details class="telemetry" part="status" ?open=${models.some((r) => r.error)}>
                <summary>Machine details and messages</summary>
                <sl-status .runs=${models}></sl-status>
              </details>
            <sl-inspector
              part="inspector"
              .result=${run?.latest ?? null}
              .task=${spec.config.task}
              .tau=${spec.config.tau}
              .colorBy=${this.colorBy}
              .level=${3}
              .emptyText=${"Press Train: after the first iteration, each prompt's group of rollouts appears here."}
              @color-by-change=${(e: CustomEvent<{ colorBy: ColorBy }>) => (this.colorBy = e.detail.colorBy)}
            ></sl-inspector>
            <sl-problem-box
              part="problem"
              .run=${run}
              .provide=${() => this.ensureRun(spec)}
              .task=${spec.config.task}
              .tau=${spec.config.tau}
              .level=${3}
            ></sl-problem-box>`
          : models.some((r) => r.error)
            ? models.map((r) =>
                r.error ? html`<p class="msg error" role="alert">${r.label}: ${r.error}</p>` : nothing,
              )
            : nothing
      }
    </div>`;
  }
}
