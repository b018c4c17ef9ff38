/**
 * <sl-inspector>: the latest iteration's rollouts, one prompt's group at a time. Each rollout's
 * steps are coloured by PRM score (or every token by its advantage), with the oracle's verdict beside
 * each step, the first error marked, SCOPE's correction (what the policy wrote vs the teacher's step,
 * then the continuation) and the RRPO/SRPO reset point. Emits 'color-by-change'.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { IterationResult, Rollout } from '../core/rl/trainer';
import { getTask } from '../core/tasks';
import { advantageSwatch, MASKED_SWATCH, prmSwatch, type Swatch } from './colors';
import { num, score, signed } from './format';
import {
  defaultGroupIndex,
  type GroupView,
  groupViews,
  KIND_LABEL,
  originalStepViews,
  type StepView,
  stepViews,
  tokenRuns,
  VERDICT_LABEL,
} from './inspect';
import type { ColorBy } from './state';
import { base, corrections, define, emit } from './styles';

const ORIGIN_LABEL: Record<Rollout['origin'], string> = {
  sample: 'sampled',
  rectified: 'rectified',
  teacher: 'teacher',
  reset: 'after reset',
};

const NEUTRAL: Swatch = { background: '#ffffff', color: '#1a1a1a' };
const styleOf = (s: Swatch) => `background:${s.background};color:${s.color}`;

export class SlInspector extends LitElement {
  static override properties = {
    result: { attribute: false },
    task: {},
    tau: { type: Number },
    colorBy: {},
    heading: {},
    level: { type: Number },
    emptyText: {},
    groupIndex: { state: true },
    openStep: { state: true },
  };
  declare result: IterationResult | null;
  /** Task name (for the oracle labels of a rectified rollout's original). */
  declare task: string;
  declare tau: number;
  declare colorBy: ColorBy;
  declare heading: string;
  /** Heading level of the inspector's title (2 in the page; 3 inside the widget, under its own title). */
  declare level: 2 | 3;
  /** What to say before the first iteration. */
  declare emptyText: string;
  declare groupIndex: number | null;
  /** The step whose details are open ('rollout:step', or 'o rollout:step' for an original), or ''. */
  declare openStep: string;
  private shownIter = -1;
  /** The user chose a group: keep it across iterations (else show the most telling one each time). */
  private picked = false;

  static override styles = [
    base,
    corrections,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      .toolbar {
        display: flex;
        flex-wrap: wrap;
        gap: 8px 16px;
        align-items: end;
        margin-bottom: 8px;
      }
      .toolbar label {
        display: grid;
        gap: 2.4px;
        font-weight: 500;
      }
      .toolbar select {
        max-width: min(100%, 352px);
      }
      fieldset.colour {
        border: 0;
        padding: 0;
        margin: 0;
        display: flex;
        gap: 12px;
        flex-wrap: wrap;
      }
      fieldset.colour legend {
        font-weight: 500;
        padding: 0;
        margin-bottom: 2.4px;
      }
      .legend {
        font-size: 13.4px;
        color: var(--sl-muted);
        display: flex;
        flex-wrap: wrap;
        gap: 4px 12px;
        align-items: center;
      }
      .scale {
        display: inline-block;
        width: 96px;
        height: 12.8px;
        border-radius: 3px;
        vertical-align: middle;
      }
      ol.rollouts {
        list-style: none;
        margin: 0;
        padding: 0;
        display: grid;
        gap: 8px;
      }
      li.rollout {
        background: var(--sl-bg);
        border: 1px solid var(--sl-border);
        border-left: 4px solid var(--sl-border);
        border-radius: var(--sl-radius);
        padding: 6.4px 8px;
        min-width: 0;
      }
      li.rollout.correct {
        border-left-color: var(--sl-ok);
      }
      li.rollout.wrong {
        border-left-color: var(--sl-danger);
      }
      .meta {
        display: flex;
        flex-wrap: wrap;
        gap: 3.2px 12px;
        font-size: 13.8px;
        margin-bottom: 4.8px;
      }
      .badge {
        border-radius: 999px;
        padding: 0 0.5em;
        background: #e8edf3;
        font-size: 12.8px;
      }
      .badge.rectified {
        background: #fde8c8;
      }
      .badge.reset {
        background: #e3dcf7;
      }
      .steps {
        display: flex;
        flex-wrap: wrap;
        gap: 4px;
        font-family: var(--sl-mono);
        font-size: 14.4px;
      }
      .step {
        display: inline-flex;
        flex-wrap: wrap;
        align-items: baseline;
        gap: 0.25em;
        border: 1px solid #b9c1cc;
        border-radius: 4px;
        padding: 0.05em 0.3em;
        overflow-wrap: anywhere;
      }
      button.step {
        font: inherit;
        min-height: 0;
        color: inherit;
        cursor: pointer;
        text-align: left;
      }
      button.step[aria-expanded='true'] {
        box-shadow: 0 0 0 2px var(--sl-accent, #1f6fb4);
      }
      .after {
        font-family: var(--sl-font);
        font-size: 11.5px;
        border: 1px solid #6b7280;
        border-radius: 3px;
        padding: 0 0.25em;
        color: #374151;
        background: #f3f4f6;
      }
      .legend-chip {
        border: 1px solid #b9c1cc;
        border-radius: 4px;
        padding: 0 0.3em;
        font-family: var(--sl-mono);
      }
      .legend-chip.kind-teacher {
        border: 2px solid #1e7a34;
        font-weight: 600;
      }
      .prm-note {
        display: block;
        margin: 4px 0 8px;
      }
      .step-detail {
        margin: 4px 0 0;
        font-size: 13.8px;
      }
      .step.kind-teacher {
        border: 2px solid #1e7a34;
        font-weight: 600;
      }
      .step.kind-prefix {
        opacity: 0.75;
        border-style: dashed;
      }
      .step.first-error {
        outline: 2px solid var(--sl-danger);
        outline-offset: 1px;
      }
      .step .text {
        white-space: nowrap;
      }
      .step .score {
        font-size: 0.75em;
        opacity: 0.85;
      }
      .ok {
        color: var(--sl-ok);
      }
      .bad {
        color: var(--sl-danger);
      }
      .mark {
        font-family: var(--sl-font);
        font-size: 11.5px;
        font-weight: 600;
        border-radius: 3px;
        padding: 0 0.25em;
        background: var(--sl-danger);
        color: #fff;
      }
      .mark.prm {
        background: #7a4b00;
      }
      .tokens {
        font-family: var(--sl-mono);
        font-size: 14.7px;
        overflow-wrap: anywhere;
      }
      .tok.role-off {
        text-decoration: underline 2px;
        text-underline-offset: 3px;
      }
      .rect,
      .parent {
        overflow-wrap: anywhere;
        margin-top: 5.6px;
        font-size: 14.1px;
        display: grid;
        gap: 4px;
      }
      .parent {
        background: var(--sl-bg);
        border: 1px dashed var(--sl-border);
        border-radius: var(--sl-radius);
        padding: 6.4px 8px;
        margin-bottom: 8px;
      }
    `,
  ];

  constructor() {
    super();
    this.result = null;
    this.task = 'add';
    this.tau = 0.5;
    this.colorBy = 'prm';
    this.heading = 'Rollout inspector';
    this.level = 2;
    this.emptyText = "Train or step once: each prompt's group of rollouts appears here.";
    this.groupIndex = null;
    this.openStep = '';
  }

  protected override willUpdate(): void {
    const result = this.result;
    if (!result || this.shownIter === result.metrics.iter) return;
    this.shownIter = result.metrics.iter;
    const groups = groupViews(result);
    if (!this.picked || this.groupIndex === null || this.groupIndex >= groups.length)
      this.groupIndex = defaultGroupIndex(groups);
  }

  /** One sentence of everything known about a step (shown when its chip is pressed). */
  private detail(s: StepView): string {
    const prm =
      s.prm === null
        ? 'not scored by the PRM'
        : `PRM ${score(s.prm)} (its estimate that the solution is still right up to here; first score below τ = ${this.tau}: ${s.prmFirstError ? 'here' : 'not here'})`;
    return `Step ${s.index}, ${KIND_LABEL[s.kind]}: ${prm}; task oracle: ${VERDICT_LABEL[s.verdict]}.`;
  }

  /**
   * A step chip: a button (keyboard and touch reach it) that opens the step's details under the
   * rollout. The mark says what the oracle can honestly say: ✓ valid given the steps before it, the
   * first error, or "after the error" (neutral: the oracle does not judge steps after the first error).
   */
  private chip(s: StepView, swatch: Swatch, key: string) {
    const open = this.openStep === key;
    return html`<button
      type="button"
      class="step kind-${s.kind} verdict-${s.verdict} ${s.firstError ? 'first-error' : ''}"
      style=${styleOf(swatch)}
      aria-expanded=${open ? 'true' : 'false'}
      data-kind=${s.kind}
      data-valid=${s.valid === null ? 'unfinished' : s.valid ? 'valid' : 'invalid'}
      data-verdict=${s.verdict}
      ?data-first-error=${s.firstError}
      @click=${() => (this.openStep = open ? '' : key)}
       ><span class="text">${s.text}${s.terminator}</span>${s.prm !== null ? html`<span class="score">${score(s.prm)}</span>` : nothing}${this.verdictMark(s)}${this.marks(s)}</button
    >`;
  }

  private verdictMark(s: StepView) {
    switch (s.verdict) {
      case 'valid':
        return html`<span class="ok" aria-hidden="true">✓</span><span class="sr-only">valid</span>`;
      case 'after-error':
        return html`<span class="after">after the error</span>`;
      case 'unfinished':
        return html`<span aria-hidden="true">…</span><span class="sr-only">unfinished</span>`;
      default:
        return nothing; // the first-error mark says it
    }
  }

  /** First-error marks: the oracle's, the PRM's, or one mark when they agree. */
  private marks(s: StepView) {
    if (s.firstError && s.prmFirstError) return html`<span class="mark">first error (PRM agrees)</span>`;
    if (s.firstError) return html`<span class="mark">first error</span>`;
    if (s.prmFirstError) return html`<span class="mark prm">PRM's first error</span>`;
    return nothing;
  }

  private steps(views: StepView[], key: string) {
    const open = views.find((s) => this.openStep === `${key}:${s.index}`);
    return html`<div class="steps">
        ${views.map((s) => this.chip(s, s.prm === null ? NEUTRAL : prmSwatch(s.prm, this.tau), `${key}:${s.index}`))}
      </div>
      ${open ? html`<p class="step-detail" role="status">${this.detail(open)}</p>` : nothing}`;
  }

  private tokens(r: Rollout) {
    return html`<div class="tokens">
      ${tokenRuns(r).map((t) => {
        const sw = t.role === 'masked' ? MASKED_SWATCH : advantageSwatch(r.advantage);
        const who = t.role === 'off' ? 'teacher' : t.role === 'masked' ? 'masked, no gradient' : 'policy';
        return html`<span class="tok role-${t.role}" style=${styleOf(sw)} title="${who}, A = ${signed(r.advantage)}"
          >${t.text}</span
        >`;
      })}
    </div>`;
  }

  private rectification(r: Rollout, i: number) {
    const rect = r.rectification!;
    const outcome = rect.salvaged
      ? html`<strong class="ok">salvaged: the policy finished it correctly</strong>`
      : rect.answerStep || !rect.continuation
        ? html`<strong>answer-step correction: the teacher wrote the answer, not a salvage</strong>`
        : html`<strong class="bad">not salvaged: the policy's continuation is still wrong</strong>`;
    return html`<div class="rect" data-rectified-step=${rect.k}>
      <span
        >Step ${rect.k}: the policy wrote <del class="mono">${rect.original}</del>, the teacher corrected it to
        <ins class="mono">${rect.corrected}</ins>${
          rect.continuation
            ? html`, then the policy continued <code>${rect.continuation}</code>`
            : html` (the answer, nothing to continue)`
        }
        → ${outcome}${
          rect.prmFalseAccept
            ? html`. <span class="bad">The PRM accepted an invalid step in the kept prefix.</span>`
            : nothing
        }</span
      >
      <span class="muted">Before the correction:</span>
      ${this.steps(originalStepViews(r, getTask(this.task)), `o${i}`)}
    </div>`;
  }

  private rollout(r: Rollout, i: number) {
    const views = stepViews(r);
    return html`<li class="rollout ${r.reward > 0 ? 'correct' : 'wrong'}" data-origin=${r.origin}>
      <div class="meta">
        <strong>#${i + 1}</strong>
        <span class="badge ${r.origin}">${ORIGIN_LABEL[r.origin]}</span>
        <span
          >reward
          <strong class=${r.reward > 0 ? 'ok' : 'bad'}>${num(r.reward, 2)} ${r.reward > 0 ? '✓' : '✗'}</strong></span
        >
        <span>advantage <strong class="mono">${signed(r.advantage)}</strong></span>
        ${r.reset ? html`<span>reset at step ${r.reset.k}</span>` : nothing}
      </div>
      ${this.colorBy === 'advantage' ? this.tokens(r) : this.steps(views, `r${i}`)}
      ${r.rectification ? this.rectification(r, i) : nothing}
    </li>`;
  }

  private parent(g: GroupView) {
    const reset = g.reset!;
    const rest = reset.parentCompletion.slice(reset.prefix.length);
    return html`<div class="parent" data-reset-step=${reset.k}>
      <span
        ><strong>Failed parent</strong>:
        <code><span class="tok" style=${styleOf(MASKED_SWATCH)}>${reset.prefix}</span><del>${rest}</del></code></span
      >
      <span
        >Reset at step ${reset.k}: the grey prefix (${reset.k - 1} step${reset.k === 2 ? '' : 's'}) is kept and
        masked (no gradient); the struck-out rest is resampled ${g.rollouts.length} times below.</span
      >
    </div>`;
  }

  private legend() {
    if (this.colorBy === 'advantage')
      return html`<div class="legend">
        <span><span class="scale" style="background:linear-gradient(90deg,${advantageSwatch(-2).background},${advantageSwatch(0).background},${advantageSwatch(2).background})"></span>
        A &lt; 0 discouraged · A &gt; 0 reinforced</span>
        <span><span class="tok" style=${styleOf(MASKED_SWATCH)}>grey</span> masked</span>
        <span><span class="tok role-off">underlined</span> teacher tokens</span>
      </div>`;
    const stops = [0, this.tau / 2, this.tau, (1 + this.tau) / 2, 1].map(
      (s) => prmSwatch(s, this.tau).background,
    );
    return html`<div class="legend" id="step-legend" role="note" aria-label="What the step marks mean">
        <span
          >PRM score <span class="scale" style="background:linear-gradient(90deg,${stops.join(',')})"></span> 0 → τ =
          ${this.tau} → 1</span
        >
        <span><span class="ok">✓</span> valid given the steps before it</span>
        <span><span class="mark">first error</span> the task oracle's first invalid step</span>
        <span><span class="after">after the error</span> not judged (follows an error)</span>
        <span><span class="mark prm">PRM's first error</span> first score below τ</span>
        <span>white: not scored</span>
        <span><span class="legend-chip kind-teacher">bold</span> teacher's step</span>
      </div>
      <p class="legend prm-note">
        The number on a step is the learned PRM's estimate (0 to 1) that the solution is still right up to and
        including that step: a score of the prefix, not of the step alone. It was trained on prefix labels, so
        once it judges a prefix broken the later steps get about the same low score (e.g. 0.20 0.20 0.20): only
        the first drop below τ matters. SCOPE scores only failed rollouts. Press a step for its details.
      </p>`;
  }

  private titleOf(text: string) {
    return this.level === 3 ? html`<h3>${text}</h3>` : html`<h2>${text}</h2>`;
  }

  override render() {
    const result = this.result;
    if (!result)
      return html`${this.titleOf(this.heading)}
        <p class="muted">${this.emptyText}</p>`;
    const groups = groupViews(result);
    const gi = Math.min(this.groupIndex ?? 0, groups.length - 1);
    const g = groups[gi];
    return html`${this.titleOf(`${this.heading} · iteration ${result.metrics.iter}`)}
      <div class="toolbar">
        <label
          >Prompt group
          <select
            id="group"
            @change=${(e: Event) => {
              this.groupIndex = Number((e.target as HTMLSelectElement).value);
              this.picked = true;
            }}
          >
            ${groups.map(
              (x, i) => html`<option value=${i} ?selected=${i === gi}>
                ${i + 1}: ${x.problem.prompt} (${x.failed} wrong${x.rectified ? `, ${x.rectified} rectified` : ''}${
                  x.reset ? ', reset' : ''
                })
              </option>`,
            )}
          </select></label
        >
        <fieldset class="colour">
          <legend>Colour by</legend>
          ${(['prm', 'advantage'] as const).map(
            (c) => html`<label
              ><input
                type="radio"
                name="colour"
                value=${c}
                .checked=${this.colorBy === c}
                @change=${() => emit(this, 'color-by-change', { colorBy: c })}
              />
              ${c === 'prm' ? 'PRM score' : 'advantage'}</label
            >`,
          )}
        </fieldset>
      </div>
      ${this.legend()}
      <p>
        Prompt <code>${g.problem.prompt}</code>, answer <code>${g.problem.answer}</code>: ${g.rollouts.length}
        rollouts, ${g.failed} wrong${g.rectified ? `, ${g.rectified} rectified` : ''}.
      </p>
      ${g.reset ? this.parent(g) : nothing}
      <ol class="rollouts">
        ${g.rollouts.map((r, i) => this.rollout(r, i))}
      </ol>`;
  }
}

define('sl-inspector', SlInspector);

declare global {
  interface HTMLElementTagNameMap {
    'sl-inspector': SlInspector;
  }
}
