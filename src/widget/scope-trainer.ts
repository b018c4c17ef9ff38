/**
 * <scope-trainer>: a training run in a box, for tutorials on pages we do not control.
 *
 * - Attributes (attributes.ts) are validated on connection and on every change; a bad value shows
 *   a message inside the widget and fires `error`. A config change ends the current run.
 * - The session (policy and PRM workers, checkpoints fetched from `assets` or from next to this
 *   module) is created on the first start, so a page with several widgets loads nothing until
 *   one is started. Each widget has its own session and IndexedDB namespace.
 * - Events (bubbling, composed): `iteration` (detail: the iteration's metrics), `done` (detail:
 *   the run summary), `error` (detail: { message }).
 * - Everything renders in a shadow root with its own styles; `:host` resets inherited styles and
 *   keeps `display` against a host's `* { display: none !important }`.
 */
import { css, html, LitElement, nothing } from 'lit';
import { TrainingSession } from '../browser/session';
import type { BackendInfo, SessionState } from '../browser/session-api';
import type { RunSummary } from '../core/rl/run';
import type { IterationMetrics } from '../core/rl/trainer';
import { openStore } from '../storage';
import {
  parseWidgetAttributes,
  sessionOptions,
  storageNamespace,
  WIDGET_ATTRIBUTES,
  type WidgetAttribute,
  WidgetAttributeError,
  type WidgetSpec,
} from './attributes';
import { keepOnlyRun, prepareWidgetStore, type ResumePoint } from './persistence';

/** Attributes whose change means a different run (the others only change the presentation). */
const RUN_ATTRIBUTES: ReadonlySet<string> = new Set<WidgetAttribute>([
  'task',
  'algo',
  'iters',
  'seed',
  'backend',
  'assets',
]);

/** Widgets seen on this page, in order of first connection (the default namespace key). */
let widgetsSeen = 0;
/** Namespaces of the live sessions: two widgets never write to one namespace. */
const namespacesInUse = new Set<string>();

export type WidgetPhase = 'idle' | SessionState;

export interface ScopeTrainerEventMap {
  iteration: CustomEvent<IterationMetrics>;
  done: CustomEvent<RunSummary>;
  error: CustomEvent<{ message: string }>;
}

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return typeof e === 'string' ? e : 'unknown error';
}

export class ScopeTrainer extends LitElement {
  static override properties = {
    phase: { state: true },
    history: { state: true },
    problem: { state: true },
    notice: { state: true },
    backendInfo: { state: true },
  };

  static override get observedAttributes(): string[] {
    // biome-ignore lint/complexity/noThisInStatic: Lit finalizes the subclass (its reactive state) here
    return [...super.observedAttributes, ...WIDGET_ATTRIBUTES];
  }

  /** The directory of this module: the default base of the shipped checkpoints. */
  static moduleBase = new URL('./', String(import.meta.url)).href;

  declare phase: WidgetPhase;
  declare history: IterationMetrics[];
  /** The message of an invalid attribute or a failed run (shown; `error` was fired). */
  declare problem: string | null;
  /** Something to know that is not an error (storage unavailable, a backend fallback). */
  declare notice: string | null;
  declare backendInfo: BackendInfo | null;

  private spec: WidgetSpec | null = null;
  private session: TrainingSession | null = null;
  private creating: Promise<TrainingSession> | null = null;
  private namespace: string | null = null;
  private ordinal = 0;
  private unsubscribe: (() => void)[] = [];
  /** Bumped whenever the current session is dropped: late results of an old one are ignored. */
  private generation = 0;

  constructor() {
    super();
    this.phase = 'idle';
    this.history = [];
    this.problem = null;
    this.notice = null;
    this.backendInfo = null;
  }

  /**
   * The host keeps `display` and `visibility` against any page rule (important declarations of the
   * shadow tree win over the page's; the `hidden` attribute still hides it); `.frame` resets every inherited property (font, colour, visibility,
   * pointer-events...) to its initial value, so nothing a page sets on us reaches inside.
   */
  static override styles = css`
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
      display: block;
      box-sizing: border-box;
      font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
      font-size: 15px;
      line-height: 1.4;
      color: #1b1f24;
      background: #fff;
      border: 1px solid #d0d6de;
      border-radius: 6px;
      padding: 0.75rem;
    }
    .problem {
      color: #b3261e;
      font-weight: 600;
    }
    .notice {
      color: #5a6470;
    }
  `;

  // -----------------------------------------------------------------------------------------------
  // Lifecycle

  override connectedCallback(): void {
    super.connectedCallback();
    if (!this.ordinal) this.ordinal = ++widgetsSeen;
    this.validate();
    if (this.spec?.autostart && this.phase === 'idle') this.start().catch(() => {});
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
  private validate(): boolean {
    try {
      this.spec = parseWidgetAttributes((n) => this.getAttribute(n), document.baseURI);
      if (this.phase === 'idle') this.problem = null;
      return true;
    } catch (e) {
      this.spec = null;
      this.fail(e instanceof WidgetAttributeError ? e.message : `invalid attributes: ${messageOf(e)}`);
      return false;
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Public API

  /** The current run's iteration (0 before it starts). */
  get iteration(): number {
    return this.history.at(-1)?.iter ?? 0;
  }

  /** Train until the run's `iters` or a pause. Resolves with the summary when done, null when paused. */
  async start(): Promise<RunSummary | null> {
    if (!this.spec) throw new Error(this.problem ?? 'invalid attributes');
    const gen = this.generation;
    try {
      const session = await this.ensureSession();
      if (gen !== this.generation) return null;
      return await session.start();
    } catch (e) {
      if (gen === this.generation) this.fail(messageOf(e));
      throw e;
    }
  }

  /** Stop after the current iteration. */
  async pause(): Promise<void> {
    await this.session?.pause();
  }

  /** Back to the starting checkpoint and iteration 0. */
  async reset(): Promise<void> {
    if (this.session && this.session.state !== 'error') {
      await this.session.reset();
      this.history = [];
      this.problem = null;
      await this.pruneStorage();
      return;
    }
    await this.drop();
    this.validate();
  }

  // -----------------------------------------------------------------------------------------------
  // The session

  private ensureSession(): Promise<TrainingSession> {
    if (this.session) return Promise.resolve(this.session);
    this.creating ??= this.createSession().finally(() => {
      this.creating = null;
    });
    return this.creating;
  }

  private async createSession(): Promise<TrainingSession> {
    const spec = this.spec!;
    const gen = this.generation;
    this.phase = 'loading';
    this.problem = null;
    const namespace = this.claimNamespace();
    // Storage may be unavailable (private browsing, blocked third-party storage): train anyway.
    let resume: ResumePoint | null = null;
    let persistIn: string | null = namespace;
    try {
      const store = await openStore(namespace);
      try {
        resume = await prepareWidgetStore(store, spec.config);
      } finally {
        store.close();
      }
    } catch (e) {
      persistIn = null;
      this.notice = `progress is not saved: ${messageOf(e)}`;
    }
    const session = await TrainingSession.create(
      { ...sessionOptions(spec, ScopeTrainer.moduleBase, persistIn), resumeRunId: resume?.runId },
      (ns) => openStore(ns),
    );
    if (gen !== this.generation) {
      await session.dispose();
      throw new Error('the widget was reconfigured while loading');
    }
    if (resume) this.history = resume.metrics;
    this.attach(session);
    return session;
  }

  /** This widget's storage namespace, unique among the live widgets of the page. */
  private claimNamespace(): string {
    const base = storageNamespace(this.getAttribute('id'), this.getAttribute('name'), this.ordinal);
    let namespace = base;
    for (let k = 2; namespacesInUse.has(namespace); k++) namespace = `${base}~${k}`;
    namespacesInUse.add(namespace);
    this.namespace = namespace;
    return namespace;
  }

  /** After a reset the old run is of no use: keep only the session's new one. */
  private async pruneStorage(): Promise<void> {
    if (!this.namespace || !this.session?.runId) return;
    try {
      const store = await openStore(this.namespace);
      try {
        await keepOnlyRun(store, this.session.runId);
      } finally {
        store.close();
      }
    } catch (e) {
      this.notice = `old runs could not be deleted: ${messageOf(e)}`;
    }
  }

  private attach(session: TrainingSession): void {
    this.session = session;
    this.backendInfo = session.backendInfo;
    this.phase = session.state;
    this.unsubscribe = [
      session.on('state', ({ state }) => {
        this.phase = state;
      }),
      session.on('backend', (info) => {
        this.backendInfo = info;
      }),
      session.on('iteration', (r) => {
        this.history = [...this.history, r.metrics];
        this.emit('iteration', r.metrics);
      }),
      session.on('done', (summary) => this.emit('done', summary)),
      session.on('notice', (n) => {
        this.notice = n.message;
      }),
      session.on('error', ({ message }) => this.fail(message)),
    ];
  }

  /** End the current session (if any) and forget its results. */
  private async drop(): Promise<void> {
    this.generation++;
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    const session = this.session;
    this.session = null;
    this.creating = null;
    if (this.namespace) namespacesInUse.delete(this.namespace);
    this.namespace = null;
    this.history = [];
    this.phase = 'idle';
    this.backendInfo = null;
    this.notice = null;
    await session?.dispose();
  }

  private emit<K extends keyof ScopeTrainerEventMap>(
    type: K,
    detail: ScopeTrainerEventMap[K]['detail'],
  ): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  /** Show the message and fire `error` (once per distinct failure). */
  private fail(message: string): void {
    if (this.problem === message) return;
    this.problem = message;
    if (this.phase !== 'idle') this.phase = 'error';
    this.emit('error', { message });
  }

  // -----------------------------------------------------------------------------------------------
  // View (placeholder until the page's components land in src/ui: a status line and buttons)

  override render() {
    const running = this.phase === 'running';
    const last = this.history.at(-1);
    return html`<div class="frame">
      <p part="status">
        ${this.spec ? `${this.spec.config.algo} on ${this.spec.config.task}` : 'scope-trainer'} ·
        ${this.phase}${last ? ` · iteration ${last.iter}/${this.spec?.config.iters}` : ''}
        ${last?.rewardMean != null ? ` · reward ${last.rewardMean.toFixed(2)}` : ''}
        ${this.backendInfo ? ` · ${this.backendInfo.backend}` : ''}
      </p>
      ${this.problem ? html`<p class="problem" role="alert">${this.problem}</p>` : nothing}
      ${this.notice ? html`<p class="notice">${this.notice}</p>` : nothing}
      <button
        type="button"
        ?disabled=${!this.spec || this.phase === 'loading' || this.phase === 'done'}
        @click=${() => (running ? this.pause() : this.start()).catch(() => {})}
      >
        ${running ? 'Pause' : 'Train'}
      </button>
      <button type="button" ?disabled=${!this.spec} @click=${() => this.reset().catch(() => {})}>Reset</button>
    </div>`;
  }
}
