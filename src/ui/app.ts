/**
 * <scope-lab-app>: the teaching page, composed from the components. It owns the one UiState
 * (mirrored in the URL hash), turns it into one or two runs (compare mode), and routes the
 * components' events to the runs. The session factory and the assets base URL are injected, so the
 * same element runs against the worker session, a test double, or a future runtime.
 */
import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import type { Algo, RlConfig } from '../core/rl/config';
import './charts-panel';
import './checkpoints-panel';
import type { ResumeRequest } from './checkpoints-panel';
import './controls-panel';
import './how-it-works';
import type { SlHowItWorks } from './how-it-works';
import { iterationSummary } from './iteration-summary';
import { ALGO_LABEL } from './knobs';
import './problem-box';
import './rollout-inspector';
import './run-buttons';
import { combinedPhase, RunModel, type SessionFactory } from './run-model';
import {
  type ColorBy,
  parseHash,
  type StateKey,
  serialiseHash,
  stateFromConfig,
  stateIssues,
  toRlConfig,
  type UiState,
} from './state';
import './status-bar';
import { base, define } from './styles';

/** Settings that do not change what is trained (changing them keeps the runs). */
const VIEW_KEYS: readonly StateKey[] = ['colorBy'];

export class ScopeLabApp extends LitElement {
  static override properties = {
    state: { attribute: false },
    notices: { attribute: false },
    inspected: { state: true },
    copied: { state: true },
  };
  declare state: UiState;
  /** What was wrong with the URL's settings (reset to defaults), until dismissed. */
  declare notices: string[];
  /** Which run the inspector shows (compare mode). */
  declare inspected: number;
  declare copied: string;
  /** stateIssues(state), recomputed when the state changes, not on every run event. */
  private issues: ReturnType<typeof stateIssues> = [];

  /** Creates a training session (injected by the page bootstrap). */
  createSession: SessionFactory | null = null;
  /** Base URL of `checkpoints/<task>/...` (default: the document's base URL). */
  assetsBase: string | URL = document.baseURI;
  /** IndexedDB namespace of this page's runs. */
  storageNamespace: string | null = 'scope-lab';

  private runs: RunModel[] = [];
  /** Settings start folded on a narrow screen (a tutorial side panel), so the charts are in reach. */
  private settingsOpen = true;
  private readonly onSettingsToggle = (e: Event) => {
    this.settingsOpen = (e.target as HTMLDetailsElement).open;
  };
  private readonly onRunChange = () => this.requestUpdate();
  private readonly onHashChange = () => this.loadHash();
  /** `i` (outside a field) jumps to the rollout inspector. */
  private readonly onKey = (e: KeyboardEvent) => {
    if (e.key !== 'i' || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.composedPath()[0] as HTMLElement | undefined;
    if (t && (t.isContentEditable || ['INPUT', 'SELECT', 'TEXTAREA'].includes(t.tagName))) return;
    e.preventDefault();
    this.showInspector();
  };

  static override styles = [
    base,
    css`
      :host {
        display: block;
        container-type: inline-size;
        max-width: 1440px;
        margin: 0 auto;
        padding: 12px;
      }
      header h1 {
        font-size: 24px;
        margin: 0 0 3.2px;
      }
      header p {
        margin: 0 0 9.6px;
        max-width: 960px;
      }
      .runbar {
        position: sticky;
        top: 0;
        z-index: 2;
        display: grid;
        gap: 8px;
        margin-bottom: 12px;
        box-shadow: 0 2px 6px rgb(0 0 0 / 8%);
      }
      .runbar .row {
        display: flex;
        flex-wrap: wrap;
        gap: 8px;
        align-items: center;
      }
      .runbar sl-run-buttons {
        flex: 1 1 288px;
        min-width: 0;
      }
      .layout {
        display: grid;
        grid-template-columns: minmax(240px, 336px) minmax(0, 1fr);
        gap: 12px;
        align-items: start;
      }
      @container (max-width: 768px) {
        .layout {
          grid-template-columns: minmax(0, 1fr);
        }
        .runbar {
          position: static;
        }
      }
      .main {
        display: grid;
        gap: 12px;
        min-width: 0;
      }
      .notices {
        border: 2px solid var(--sl-danger);
        border-radius: var(--sl-radius);
        padding: 8px 12px;
        margin-bottom: 12px;
        background: #fff5f4;
      }
      .notices ul {
        margin: 4px 0;
        padding-left: 19.2px;
        overflow-wrap: anywhere;
      }
      details.settings > summary {
        cursor: pointer;
        margin-bottom: 8px;
      }
      details.settings > summary h2 {
        display: inline;
        margin: 0;
      }
      details.settings > summary span {
        display: block;
        font-size: 14.1px;
      }
      .inspect-pick {
        margin-bottom: 8px;
      }
      .this-iter p {
        margin: 0;
      }
      .this-iter {
        font-size: 15px;
      }
      details.telemetry > summary {
        cursor: pointer;
        font-size: 14.1px;
        color: var(--sl-muted);
      }
      #inspector:focus {
        outline: none;
      }
    `,
  ];

  constructor() {
    super();
    const parsed = parseHash(location.hash);
    this.state = parsed.state;
    this.notices = parsed.notices;
    this.inspected = 0;
    this.copied = '';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.settingsOpen = window.innerWidth >= 768;
    window.addEventListener('hashchange', this.onHashChange);
    window.addEventListener('keydown', this.onKey);
    this.writeHash();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('hashchange', this.onHashChange);
    window.removeEventListener('keydown', this.onKey);
    void this.disposeRuns();
  }

  /** The URL was edited or a shared link pasted: apply it (a new run if anything trainable changed). */
  private loadHash(): void {
    if (location.hash === serialiseHash(this.state)) return;
    const parsed = parseHash(location.hash);
    this.notices = parsed.notices;
    this.apply(parsed.state);
  }

  private writeHash(): void {
    const hash = serialiseHash(this.state);
    if (location.hash !== hash) history.replaceState(null, '', hash);
  }

  private apply(next: UiState): void {
    const trainable = (Object.keys(next) as StateKey[]).some(
      (k) => !VIEW_KEYS.includes(k) && next[k] !== this.state[k],
    );
    this.state = next;
    this.writeHash();
    if (trainable) void this.disposeRuns();
  }

  private async disposeRuns(): Promise<void> {
    const old = this.runs;
    this.runs = [];
    this.inspected = 0;
    for (const r of old) r.removeEventListener('change', this.onRunChange);
    this.requestUpdate();
    await Promise.all(old.map((r) => r.dispose()));
  }

  /** The runs of the current settings (created on first use: nothing loads until Train or Step). */
  private ensureRuns(): RunModel[] {
    if (this.runs.length) return this.runs;
    if (!this.createSession)
      throw new Error('no session factory: the page bootstrap did not set createSession');
    const algos: Algo[] = this.state.compare ? [this.state.algo, this.state.compare] : [this.state.algo];
    // Two runs side by side keep both cores busy on their own: no gradient workers (same numbers).
    const side = algos.length > 1;
    this.runs = algos.map((algo) => this.newRun(toRlConfig(this.state, algo), undefined, side));
    this.requestUpdate();
    return this.runs;
  }

  /** A run of `config` with the page's backend and storage, watched for changes. */
  private newRun(config: RlConfig, resumeRunId?: string, sideBySide = false): RunModel {
    const options = {
      config,
      backend: this.state.backend,
      assetsBase: this.assetsBase,
      storageNamespace: this.storageNamespace,
      parallelStartEval: true,
      gradientWorker: !sideBySide,
      ...(resumeRunId === undefined ? {} : { resumeRunId }),
    };
    const run = new RunModel(this.createSession!, options, ALGO_LABEL[config.algo]);
    run.addEventListener('change', this.onRunChange);
    return run;
  }

  /** Resume a stored run (checkpoints panel): its settings become the page's, its history is shown. */
  private async resume({ run, metrics }: ResumeRequest): Promise<void> {
    if (!this.createSession) return;
    await this.disposeRuns();
    this.state = stateFromConfig(this.state, run.config);
    this.writeHash();
    const model = this.newRun(run.config, run.id);
    model.preload(metrics);
    this.runs = [model];
    this.requestUpdate();
    await model.load().catch(() => null);
  }

  private async train(): Promise<void> {
    await Promise.all(this.ensureRuns().map((r) => r.train()));
  }

  private async pause(): Promise<void> {
    await Promise.all(this.runs.map((r) => r.pause()));
  }

  private async step(): Promise<void> {
    await Promise.all(this.ensureRuns().map((r) => r.step()));
  }

  private async reset(): Promise<void> {
    await Promise.all(this.runs.map((r) => r.reset()));
  }

  private async copyLink(): Promise<void> {
    try {
      await navigator.clipboard.writeText(location.href);
      this.copied = 'Link copied: it reopens these settings.';
    } catch {
      this.copied = `Copy this link: ${location.href}`;
    }
  }

  /** Scroll to the rollout inspector and move focus there (one click or `i`). */
  private showInspector(): void {
    const el = this.renderRoot.querySelector<HTMLElement>('#inspector');
    if (!el) return;
    el.scrollIntoView({ block: 'start' });
    el.focus({ preventScroll: true });
  }

  /** What the runs are doing besides training, for the progress line ('' when nothing). */
  private activity(runs: RunModel[]): string {
    const inline = runs.find((r) => r.evaluating && !r.evaluating.background);
    if (inline) return 'evaluating held-out accuracy…';
    if (runs.some((r) => r.evaluating?.background))
      return 'evaluating the starting model (in parallel with training)…';
    return '';
  }

  /** "This iteration: …" per run: what the algorithm did, from the latest metrics. */
  private iterationLine(runs: RunModel[]) {
    const shown = runs.filter((r) => r.latest);
    if (!shown.length)
      return html`<p class="this-iter muted" id="this-iteration">
        This iteration: what the algorithm did (rectified, salvaged, groups with no signal) shows here.
      </p>`;
    return html`<div class="this-iter" id="this-iteration">
      ${shown.map((r) => {
        const m = r.latest!.metrics;
        const parts = iterationSummary(m, r.options.config as { promptsPerIter: number; groupSize: number });
        return html`<p data-run=${r.label}>
          <strong>${runs.length > 1 ? `${r.label}, iteration ${m.iter}` : `Iteration ${m.iter}`}:</strong>
          ${parts.map((p, i) => html`<span data-part=${p.id}>${p.text}</span>${i < parts.length - 1 ? ', ' : ''}`)}
        </p>`;
      })}
    </div>`;
  }

  private showHelp(algo: Algo): void {
    void this.renderRoot.querySelector<SlHowItWorks>('sl-how-it-works')?.show(algo);
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('state')) this.issues = stateIssues(this.state);
  }

  override render() {
    const runs = this.runs;
    const phase = combinedPhase(runs.map((r) => r.phase));
    const busy = runs.some((r) => r.busy);
    const inspectedRun = runs[Math.min(this.inspected, runs.length - 1)] ?? null;
    return html`<header>
        <h1>scope-lab</h1>
        <p>
          Train a tiny transformer to do step-by-step arithmetic with reinforcement learning, right in your
          browser, and watch how each algorithm assigns credit to the steps of its answers.
        </p>
      </header>
      ${
        this.notices.length
          ? html`<div class="notices" role="alert">
            <strong>Some settings in the link were invalid and were reset to defaults:</strong>
            <ul>
              ${this.notices.map((n) => html`<li>${n}</li>`)}
            </ul>
            <button type="button" @click=${() => (this.notices = [])}>Dismiss</button>
          </div>`
          : nothing
      }
      <section class="runbar panel" aria-label="Run">
        <div class="row">
          <sl-run-buttons
            .phase=${phase}
            .iter=${runs.length ? Math.min(...runs.map((r) => r.iter)) : 0}
            .iters=${this.state.iters}
            .blocked=${this.issues.length ? `Fix the settings first: ${this.issues.map((i) => i.message).join('; ')}` : ''}
            .pausing=${runs.some((r) => r.pausing)}
            .activity=${this.activity(runs)}
            @train=${() => this.train()}
            @pause=${() => this.pause()}
            @step=${() => this.step()}
            @reset=${() => this.reset()}
          ></sl-run-buttons>
          <button type="button" id="copy-link" @click=${() => this.copyLink()}>Copy link</button>
          <button
            type="button"
            id="go-inspector"
            aria-keyshortcuts="i"
            title="Keyboard: i"
            @click=${() => this.showInspector()}
          >
            Inspect rollouts (i)
          </button>
        </div>
        ${this.copied ? html`<p class="muted" role="status">${this.copied}</p>` : nothing}
        ${this.iterationLine(runs)}
        ${
          runs.length
            ? html`<details class="telemetry" ?open=${runs.some((r) => r.error)}>
                <summary>Machine details (backend, speed, memory, messages)</summary>
                <sl-status .runs=${[...runs]}></sl-status>
              </details>`
            : html`<p class="muted">Models load when you press Train or Step.</p>`
        }
      </section>
      <div class="layout">
        <aside class="panel" aria-label="Settings">
          <details class="settings" ?open=${this.settingsOpen} @toggle=${this.onSettingsToggle}>
            <summary>
              <h2>Settings</h2>
              <span class="muted">${ALGO_LABEL[this.state.algo]}${
                this.state.compare ? ` vs ${ALGO_LABEL[this.state.compare]}` : ''
              } on ${this.state.task}, ${this.state.iters} iterations, ${this.state.backend}</span>
            </summary>
            <sl-controls
            .state=${this.state}
            .locked=${busy}
            @state-change=${(e: CustomEvent<{ state: UiState }>) => this.apply(e.detail.state)}
            @show-help=${(e: CustomEvent<{ algo: Algo }>) => this.showHelp(e.detail.algo)}
            ></sl-controls>
          </details>
        </aside>
        <div class="main">
          <section class="panel" aria-labelledby="charts-title">
            <h2 id="charts-title">Live charts</h2>
            <sl-charts .runs=${runs.map((r) => r.history)}></sl-charts>
          </section>
          <section class="panel" aria-label="Rollout inspector" id="inspector" tabindex="-1">
            ${
              runs.length > 1
                ? html`<label class="inspect-pick"
                  >Inspect
                  <select
                    id="inspect-run"
                    @change=${(e: Event) => (this.inspected = Number((e.target as HTMLSelectElement).value))}
                  >
                    ${runs.map((r, i) => html`<option value=${i} ?selected=${i === this.inspected}>${r.label}</option>`)}
                  </select></label
                >`
                : nothing
            }
            <sl-inspector
              .result=${inspectedRun?.latest ?? null}
              .task=${this.state.task}
              .tau=${this.state.tau}
              .colorBy=${this.state.colorBy}
              .heading=${inspectedRun && runs.length > 1 ? `Rollouts of ${inspectedRun.label}` : 'Rollout inspector'}
              @color-by-change=${(e: CustomEvent<{ colorBy: ColorBy }>) =>
                this.apply({ ...this.state, colorBy: e.detail.colorBy })}
            ></sl-inspector>
          </section>
          <section class="panel" aria-label="Try a problem">
            <sl-problem-box
              .run=${inspectedRun}
              .provide=${() => this.ensureRuns()[Math.min(this.inspected, this.runs.length - 1)]}
              .task=${this.state.task}
              .tau=${this.state.tau}
            ></sl-problem-box>
          </section>
          ${
            this.storageNamespace
              ? html`<section class="panel" aria-label="Saved runs">
                <sl-checkpoints
                  .namespace=${this.storageNamespace}
                  .task=${this.state.task}
                  .refreshKey=${runs.map((r) => `${r.runId}:${r.lastCheckpoint?.iter ?? ''}:${r.phase}`).join()}
                  .activeRunIds=${runs.flatMap((r) => (r.runId ? [r.runId] : []))}
                  @resume-run=${(e: CustomEvent<ResumeRequest>) => this.resume(e.detail)}
                ></sl-checkpoints>
              </section>`
              : nothing
          }
          <section class="panel">
            <sl-how-it-works></sl-how-it-works>
          </section>
        </div>
      </div>`;
  }
}

define('scope-lab-app', ScopeLabApp);

declare global {
  interface HTMLElementTagNameMap {
    'scope-lab-app': ScopeLabApp;
  }
}
