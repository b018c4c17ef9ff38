/**
 * <sl-run-buttons>: Train / Pause / Step / Reset and the progress of the run. Emits 'train',
 * 'pause', 'step' and 'reset'; which buttons are enabled follows `phase`. Train and Pause are one
 * button whose label changes, so keyboard focus stays put: Enter starts, Enter again pauses.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { RunPhase } from './run-model';
import { base, define, emit } from './styles';

const PHASE_TEXT: Record<RunPhase, string> = {
  idle: 'ready to load',
  loading: 'loading models…',
  ready: 'ready',
  running: 'training',
  paused: 'paused',
  done: 'done',
  error: 'stopped by an error',
};

export class SlRunButtons extends LitElement {
  static override properties = {
    phase: {},
    iter: { type: Number },
    iters: { type: Number },
    compact: { type: Boolean },
    blocked: { type: String },
    pausing: { type: Boolean },
    activity: { type: String },
  };
  /** Pause was pressed: the button says so at once; the run stops at the end of its iteration. */
  declare pausing: boolean;
  /** What the run is doing besides training ("evaluating held-out accuracy"), or ''. */
  declare activity: string;
  declare phase: RunPhase;
  declare iter: number;
  declare iters: number;
  /** Train/Pause and Reset only (the widget's compact view). */
  declare compact: boolean;
  /** Why training cannot start (invalid settings); disables Train and Step. */
  declare blocked: string;

  static override styles = [
    base,
    css`
      .bar {
        display: flex;
        flex-wrap: wrap;
        gap: 8px;
        align-items: center;
      }
      .progress {
        flex: 1 1 160px;
        min-width: 0;
        display: grid;
        gap: 3.2px;
        font-size: 14.4px;
      }
      progress {
        width: 100%;
        height: 9.6px;
      }
    `,
  ];

  constructor() {
    super();
    this.phase = 'idle';
    this.iter = 0;
    this.iters = 0;
    this.compact = false;
    this.blocked = '';
    this.pausing = false;
    this.activity = '';
  }

  override render() {
    // While loading the button stays focusable (aria-disabled, clicks ignored): disabling it would
    // drop keyboard focus right after Enter.
    const running = this.phase === 'running';
    const loading = this.phase === 'loading';
    const cannotStart = running || loading || this.phase === 'done' || !!this.blocked;
    const pct = this.iters > 0 ? Math.min(1, this.iter / this.iters) : 0;
    // The live region says only the phase and the activity (it changes on phase changes, at most a
    // few times per iteration), never the iteration count, so a screen reader is not flooded.
    const phaseText = running && this.pausing ? 'pausing after this iteration' : PHASE_TEXT[this.phase];
    return html`<div class="bar" role="group" aria-label="Run controls">
      <button
        type="button"
        class="primary"
        part="train-button"
        id="train"
        aria-busy=${running && this.pausing ? 'true' : nothing}
        ?disabled=${!running && !loading && cannotStart}
        aria-disabled=${loading ? 'true' : nothing}
        title=${this.blocked || nothing}
        @click=${() => loading || (running && this.pausing) || emit(this, running ? 'pause' : 'train')}
      >
        ${
          running
            ? this.pausing
              ? 'Pausing…'
              : 'Pause'
            : loading
              ? 'Loading…'
              : this.phase === 'paused'
                ? 'Resume'
                : 'Train'
        }
      </button>
      ${
        this.compact
          ? nothing
          : html`<button type="button" id="step" ?disabled=${cannotStart} @click=${() => emit(this, 'step')}>
            Step
          </button>`
      }
      <button
        type="button"
        id="reset"
        part="reset-button"
        ?disabled=${this.phase === 'loading' || this.phase === 'idle'}
        @click=${() => emit(this, 'reset')}
      >
        Reset
      </button>
      <div class="progress" part="progress">
        <span id="progress-text"
          >Iteration ${this.iter} / ${this.iters} · ${phaseText}${this.activity ? html` · <span id="activity">${this.activity}</span>` : nothing}</span
        >
        <span class="sr-only" aria-live="polite" id="announce">${phaseText}${this.activity ? `, ${this.activity}` : ''}</span>
        <progress max="1" .value=${pct} aria-labelledby="progress-text"></progress>
      </div>
    </div>
    ${this.blocked ? html`<p class="error" role="alert">${this.blocked}</p>` : nothing}`;
  }
}

define('sl-run-buttons', SlRunButtons);

declare global {
  interface HTMLElementTagNameMap {
    'sl-run-buttons': SlRunButtons;
  }
}
