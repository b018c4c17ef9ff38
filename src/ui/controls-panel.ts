/**
 * <sl-controls>: every setting of a run, labelled, with one line of help. It never owns the state:
 * it shows `state` and emits 'state-change' with a new, validated state (fields are parsed with the
 * same `parseField` the URL uses). 'show-help' asks the page to open "How it works" for an algorithm.
 */
import { css, html, LitElement, nothing, type TemplateResult } from 'lit';
import { ALGOS, type Algo } from '../core/rl/config';
import { SCENARIO_NAMES, SCENARIOS } from '../core/scenarios';
import { TASK_NAMES } from '../core/tasks/types';
import { ALGO_LABEL, KNOB_INFO, knobApplies, knobRange, type UiKnob } from './knobs';
import {
  BACKENDS,
  DEFAULT_STATE,
  fieldText,
  parseField,
  type StateIssue,
  type StateKey,
  stateIssues,
  type UiState,
  withField,
  withScenario,
} from './state';
import { base, define, emit } from './styles';

const GROUPS: { title: string; knobs: UiKnob[] }[] = [
  { title: 'Run', knobs: ['iters', 'seed', 'evalEvery', 'evalN'] },
  { title: 'Batch and optimiser', knobs: ['promptsPerIter', 'groupSize', 'lr', 'temperature', 'beta'] },
  { title: 'Algorithm-specific', knobs: ['tau', 'rectifyCap', 'gamma', 'pMin'] },
];

const BACKEND_HELP: Record<string, string> = {
  auto: 'auto: a hardware GPU if there is one, otherwise WebAssembly',
  webgpu: 'webgpu: the GPU (slow when emulated on the CPU)',
  wasm: 'wasm: WebAssembly on the CPU (fast here)',
  cpu: 'cpu: plain JavaScript (slowest; the reference)',
};

const TASK_HELP: Record<string, string> = {
  add: 'add: column addition, one step per column (47+85:7+5+0=12;4+8+1=13;>132.)',
  arith: 'arith: evaluate an expression one reduction at a time (2*3+4:2*3=6;6+4=10;>10.)',
};

export class SlControls extends LitElement {
  static override properties = {
    state: { attribute: false },
    locked: { type: Boolean },
    errors: { state: true },
  };
  declare state: UiState;
  /** While training runs, settings are read-only (changing one starts a new run). */
  declare locked: boolean;
  /** Text the user typed that did not parse, per field (kept so they can fix it). */
  declare errors: Partial<Record<StateKey, { text: string; reason: string }>>;

  static override styles = [
    base,
    css`
      form {
        display: grid;
        gap: 12px;
      }
      fieldset {
        border: 1px solid var(--sl-border);
        border-radius: var(--sl-radius);
        margin: 0;
        padding: 8px 9.6px 9.6px;
        min-width: 0;
        display: grid;
        gap: 8.8px;
      }
      legend {
        font-weight: 600;
        padding: 0 0.3em;
      }
      .field {
        display: grid;
        gap: 2.4px;
        min-width: 0;
      }
      .field label {
        font-weight: 500;
      }
      .field select,
      .field input {
        width: 100%;
      }
      .help {
        font-size: 13.4px;
        color: var(--sl-muted);
      }
      /* Inactive knobs: muted colour and a dashed border (no opacity: the text keeps a 4.5:1 contrast). */
      .field.inactive label,
      .field.inactive input {
        color: var(--sl-muted);
      }
      .field.inactive input {
        border-style: dashed;
        background: var(--sl-panel);
      }
      .field .error {
        font-size: 13.4px;
      }
      input[aria-invalid='true'] {
        border-color: var(--sl-danger);
        outline-color: var(--sl-danger);
      }
      .row {
        display: flex;
        gap: 8px;
        align-items: baseline;
        flex-wrap: wrap;
      }
    `,
  ];

  constructor() {
    super();
    this.state = DEFAULT_STATE;
    this.locked = false;
    this.errors = {};
  }

  private commit(key: StateKey, raw: string): void {
    const res = parseField(key, raw);
    if (!res.ok) {
      this.errors = { ...this.errors, [key]: { text: raw, reason: res.reason } };
      return;
    }
    const { [key]: _dropped, ...rest } = this.errors;
    this.errors = rest;
    const state =
      key === 'scenario'
        ? withScenario(this.state, res.value as UiState['scenario'])
        : withField(this.state, key, res.value);
    emit(this, 'state-change', { state, key });
  }

  private onChange(key: StateKey) {
    return (e: Event) => this.commit(key, (e.target as HTMLInputElement | HTMLSelectElement).value);
  }

  private issueFor(key: StateKey, issues: StateIssue[]): string | null {
    return this.errors[key]?.reason ?? issues.find((i) => i.key === key)?.message ?? null;
  }

  private select(
    key: 'scenario' | 'task' | 'algo' | 'compare' | 'backend',
    label: string,
    options: { value: string; text: string }[],
    help: TemplateResult | string,
    issues: StateIssue[],
  ) {
    const id = `f-${key}`;
    const issue = this.issueFor(key, issues);
    return html`<div class="field">
      <label for=${id}>${label}</label>
      <select
        id=${id}
        name=${key}
        aria-describedby="${id}-help${issue ? ` ${id}-err` : ''}"
        aria-invalid=${issue ? 'true' : 'false'}
        @change=${this.onChange(key)}
      >
        ${options.map(
          (o) =>
            html`<option value=${o.value} ?selected=${fieldText(key, this.state) === o.value}>${o.text}</option>`,
        )}
      </select>
      <span class="help" id="${id}-help">${help}</span>
      ${issue ? html`<span class="error" id="${id}-err">${issue}</span>` : nothing}
    </div>`;
  }

  private knob(key: UiKnob, issues: StateIssue[], algos: Algo[]) {
    const id = `f-${key}`;
    const info = KNOB_INFO[key];
    const range = knobRange(key);
    const typed = this.errors[key];
    const issue = this.issueFor(key, issues);
    const applies = knobApplies(key, algos);
    const only = info.algos ? info.algos.map((a) => ALGO_LABEL[a]).join(', ') : null;
    return html`<div class="field ${applies ? '' : 'inactive'}">
      <label for=${id}>${info.label}</label>
      <input
        id=${id}
        name=${key}
        type="number"
        inputmode=${range.int ? 'numeric' : 'decimal'}
        step=${info.step}
        min=${range.min ?? nothing}
        max=${range.max ?? nothing}
        placeholder=${range.nullable ? 'auto' : nothing}
        .value=${typed ? typed.text : this.state[key] === null ? '' : String(this.state[key])}
        aria-describedby="${id}-help${issue ? ` ${id}-err` : ''}"
        aria-invalid=${issue ? 'true' : 'false'}
        @change=${this.onChange(key)}
      />
      <span class="help" id="${id}-help"
        >${info.help}${only ? html` <em>(${only} only${applies ? '' : ': not used now'})</em>` : nothing}</span
      >
      ${issue ? html`<span class="error" id="${id}-err" role="alert">${issue}</span>` : nothing}
    </div>`;
  }

  override render() {
    const s = this.state;
    const issues = stateIssues(s);
    const algos = s.compare ? [s.algo, s.compare] : [s.algo];
    const algoOptions = ALGOS.map((a) => ({ value: a, text: ALGO_LABEL[a] }));
    return html`<form @submit=${(e: Event) => e.preventDefault()} aria-label="Training settings">
      <fieldset ?disabled=${this.locked}>
        <legend>Task and algorithm</legend>
        ${this.select(
          'scenario',
          'Scenario',
          SCENARIO_NAMES.map((n) => ({ value: n, text: SCENARIOS[n].title })),
          html`<span id="scenario-expect">What to expect: ${SCENARIOS[s.scenario].whatToExpect}</span>`,
          issues,
        )}
        ${this.select(
          'task',
          'Task',
          TASK_NAMES.map((t) => ({ value: t, text: t })),
          TASK_HELP[s.task],
          issues,
        )}
        ${this.select(
          'algo',
          'Algorithm',
          algoOptions,
          html`How ${ALGO_LABEL[s.algo]} learns:
            <button type="button" class="link" @click=${() => emit(this, 'show-help', { algo: s.algo })}>
              How it works
            </button>`,
          issues,
        )}
        ${this.select(
          'compare',
          'Compare with',
          [{ value: 'none', text: 'off' }, ...algoOptions.filter((o) => o.value !== s.algo)],
          'Train a second algorithm side by side, from the same checkpoint and seed.',
          issues,
        )}
        ${this.select(
          'backend',
          'Backend',
          BACKENDS.map((b) => ({ value: b, text: b })),
          BACKEND_HELP[s.backend],
          issues,
        )}
      </fieldset>
      ${GROUPS.map(
        (g) => html`<fieldset ?disabled=${this.locked}>
          <legend>${g.title}</legend>
          ${g.knobs.map((k) => this.knob(k, issues, algos))}
        </fieldset>`,
      )}
      ${this.locked ? html`<p class="help">Pause to change settings (a change starts a new run).</p>` : nothing}
    </form>`;
  }
}

define('sl-controls', SlControls);

declare global {
  interface HTMLElementTagNameMap {
    'sl-controls': SlControls;
  }
}
