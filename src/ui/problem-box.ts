/**
 * <sl-problem-box>: type a problem, see the policy's greedy answer step by step with the PRM's score
 * of each step, the first error and the teacher's correction there (issue 20 item 6). The problem is
 * read in the task's own prompt format (problem.ts); the models' calls go through the run
 * (RunModel.probe -> Session.probe), which loads the models on first use.
 */
import { css, html, LitElement, nothing } from 'lit';
import { getTask } from '../core/tasks';
import { prmSwatch } from './colors';
import { score } from './format';
import { VERDICT_LABEL } from './inspect';
import { explainProbe, PROBLEM_EXAMPLE, type ProbeExplanation, parseProblem } from './problem';
import { errorMessage, type RunModel } from './run-model';
import { base, corrections, define } from './styles';

export class SlProblemBox extends LitElement {
  static override properties = {
    run: { attribute: false },
    provide: { attribute: false },
    task: {},
    tau: { type: Number },
    level: { type: Number },
    busy: { state: true },
    message: { state: true },
    result: { state: true },
  };
  /** The run whose policy (and PRM) answer; null: none yet (the box asks for one). */
  declare run: RunModel | null;
  /** Creates the run when there is none yet (its models then load for the problem). */
  declare provide: (() => RunModel) | null;
  declare task: string;
  declare tau: number;
  declare level: 2 | 3;
  declare busy: boolean;
  declare message: string;
  declare result: ProbeExplanation | null;

  static override styles = [
    base,
    corrections,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      form {
        display: flex;
        flex-wrap: wrap;
        gap: 8px;
        align-items: end;
      }
      label {
        display: grid;
        gap: 2.4px;
        font-weight: 500;
      }
      ol {
        list-style: none;
        padding: 0;
        margin: 8px 0 0;
        display: flex;
        flex-wrap: wrap;
        gap: 4px;
        font-family: var(--sl-mono);
      }
      li {
        border: 1px solid #b9c1cc;
        border-radius: 4px;
        padding: 0.05em 0.35em;
        color: #1a1a1a;
      }
      li.first-error {
        outline: 2px solid var(--sl-danger);
      }
      .v {
        font-family: var(--sl-font);
        font-size: 12px;
        margin-left: 0.3em;
      }
      .ok {
        color: var(--sl-ok);
      }
      .bad {
        color: var(--sl-danger);
      }
    `,
  ];

  constructor() {
    super();
    this.run = null;
    this.provide = null;
    this.task = 'add';
    this.tau = 0.5;
    this.level = 2;
    this.busy = false;
    this.message = '';
    this.result = null;
  }

  private async submit(e: Event): Promise<void> {
    e.preventDefault();
    const input = this.renderRoot.querySelector<HTMLInputElement>('#problem-input');
    const task = getTask(this.task as 'add');
    const parsed = parseProblem(task, input?.value ?? '');
    this.result = null;
    if (!parsed.ok) {
      this.message = parsed.message;
      return;
    }
    const run = this.run ?? this.provide?.() ?? null;
    if (!run) {
      this.message = 'Press Train or Step once first: the models load then.';
      return;
    }
    this.busy = true;
    this.message = run.phase === 'idle' ? 'Loading the models…' : 'The policy is answering…';
    try {
      const answer = await run.probe(parsed.problem.prompt);
      this.result = explainProbe(task, parsed.problem, answer.completion, answer.prmScores, this.tau);
      this.message = '';
    } catch (err) {
      this.message = `Could not try it: ${errorMessage(err)}`;
    } finally {
      this.busy = false;
    }
  }

  private explanation(r: ProbeExplanation) {
    const scored = r.steps.some((s) => s.prm !== null);
    return html`<div id="probe-result">
      <p>
        <code>${r.problem.prompt}</code> = <code>${r.problem.answer}</code>. The policy's answer (greedy):
        <strong class=${r.reward > 0 ? 'ok' : 'bad'}>${r.reward > 0 ? 'right' : 'wrong'}</strong>${
          r.unfinished ? ' (it stopped before its answer)' : ''
        }.
      </p>
      <ol aria-label="The policy's steps">
        ${r.steps.map(
          (s) => html`<li
            class=${s.verdict === 'first-error' ? 'first-error' : ''}
            style=${s.prm === null ? '' : `background:${prmSwatch(s.prm, this.tau).background}`}
            data-verdict=${s.verdict}
          >
            ${s.text}${s.prm !== null ? html` <span class="v">PRM ${score(s.prm)}</span>` : nothing}<span class="v"
              >${VERDICT_LABEL[s.verdict]}</span
            >
          </li>`,
        )}
      </ol>
      ${
        r.correction
          ? html`<p id="probe-correction">
            First error at step ${r.correction.k}: the policy wrote <del class="mono">${r.correction.wrote}</del>, the
            teacher's step there is <ins class="mono">${r.correction.teacher}</ins>.
          </p>`
          : html`<p id="probe-correction">No step is wrong.</p>`
      }
      <p class="muted">
        ${
          scored
            ? html`PRM: ${
                r.prmFirstError
                  ? `its first score below τ = ${this.tau} is at step ${r.prmFirstError}`
                  : `no score below τ = ${this.tau}`
              }${
                r.prmFirstError && r.prmFirstError !== r.firstError
                  ? ` (the task oracle says ${r.firstError ? `step ${r.firstError}` : 'no step'})`
                  : ''
              }.`
            : 'This algorithm runs no PRM, so the steps have no PRM scores.'
        }
      </p>
    </div>`;
  }

  override render() {
    const example = PROBLEM_EXAMPLE[this.task] ?? '';
    const title = 'Try a problem';
    return html`${this.level === 3 ? html`<h3>${title}</h3>` : html`<h2>${title}</h2>`}
      <form @submit=${(e: Event) => this.submit(e)}>
        <label
          >Problem (${this.task}, e.g. ${example})
          <input id="problem-input" type="text" autocomplete="off" spellcheck="false" placeholder=${example}
        /></label>
        <button type="submit" id="problem-try" ?disabled=${this.busy}>Ask the policy</button>
      </form>
      <p id="problem-message" role="status">${this.message}</p>
      ${this.result ? this.explanation(this.result) : nothing}`;
  }
}

define('sl-problem-box', SlProblemBox);

declare global {
  interface HTMLElementTagNameMap {
    'sl-problem-box': SlProblemBox;
  }
}
