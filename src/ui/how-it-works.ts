/**
 * <sl-how-it-works>: each algorithm in plain words with its key formula (wording from
 * docs/algorithms.md). `show(algo)` opens that section and moves focus to it.
 */
import { css, html, LitElement, type TemplateResult } from 'lit';
import { ALGOS, type Algo } from '../core/rl/config';
import { ALGO_LABEL } from './knobs';
import { base, define } from './styles';

interface Explanation {
  words: TemplateResult;
  formula: string;
}

const COMMON = html`<p>
  Every iteration samples <var>P</var> problems and <var>G</var> rollouts (attempts) for each. A rollout
  earns reward 1 when its final answer is right, else 0. Each rollout's <em>advantage</em> says how much
  better it did than the other rollouts of its group; training makes tokens with a positive advantage more
  likely and those with a negative one less likely.
</p>`;

export const EXPLANATIONS: Record<Algo, Explanation> = {
  grpo: {
    words: html`<p>
      The baseline. Sample G rollouts per prompt, score them, and push every token of a rollout by its
      group-normalised advantage, with PPO's clip so no step moves the policy too far. A group where
      every rollout failed (or every one succeeded) teaches nothing.
    </p>`,
    formula: 'A_i = (r_i − mean_group) / (std_group + 1e-6);  loss = −min(ρ·A, clip(ρ, 1−ε, 1+ε)·A)',
  },
  'prm-dense': {
    words: html`<p>
      GRPO with a denser reward: a process reward model (PRM) scores every step, and its mean score is
      added to the outcome. The SCOPE paper argues this is ineffective: the policy can learn to please the
      PRM instead of solving the problem.
    </p>`,
    formula: 'r_i = outcome_i + λ · mean_k prm_{i,k}',
  },
  luffy: {
    words: html`<p>
      In each group with a failure, the first failed rollout is replaced by the teacher's whole solution.
      The teacher's tokens are off-policy (the policy did not write them), so they are weighted by
      p/(p+γ) instead of the PPO ratio: the policy keeps learning them until it finds them likely.
    </p>`,
    formula: 'off-policy token loss = −A · p/(p + γ)',
  },
  scope: {
    words: html`<p>
        SCOPE fixes a failed rollout <em>at its first mistake</em> instead of throwing it away. The PRM scores
        each step; the first step scoring below τ is the first error k. The rollout keeps its own correct
        steps 1…k−1, the teacher writes step k correctly, and the policy continues from there. If the
        continuation reaches the right answer the rollout is <em>salvaged</em>: the good part of the
        policy's own reasoning now earns reward. At most R rollouts per group are rectified.
      </p>
      <p>
        Example: <code>6+8+0=14;5+7+1=13;<del>3+4+0=7</del>;&gt;734.</code> forgot a carry at step 3; the
        teacher writes <code>3+4+1=8;</code> and the policy continues <code>&gt;834.</code> → reward 1.
      </p>`,
    formula: 'k = min{k : prm_k < τ};  rollout = own steps 1…k−1 + teacher step k + policy continuation',
  },
  rrpo: {
    words: html`<p>
      Resets: take a failed rollout (the parent), go back to a random step k, keep its steps before k and
      resample the rest G/2 times. The kept prefix is masked (no gradient); the suffixes compete in their
      own group, so credit lands on the steps after the reset point.
    </p>`,
    formula: 'k ~ Uniform[1, n];  loss = −A · log p on the resampled suffix tokens',
  },
  srpo: {
    words: html`<p>
      Like RRPO, but the model picks the reset point itself: the first step containing a token it doubted
      (probability below pMin) is where it most likely went wrong. No PRM and no teacher are used.
    </p>`,
    formula: 'k = first step with a token p < pMin (else the step with the lowest mean log p)',
  },
  'sft-control': {
    words: html`<p>
      Not RL: the same batch shape filled with teacher solutions, trained with plain likelihood. It shows
      what "more teacher data at this learning rate" does on its own, to tell an RL effect from that.
    </p>`,
    formula: 'loss = −mean log p(teacher tokens)',
  },
  'scope-sft-control': {
    words: html`<p>
      The token-matched control of SCOPE: the same samples, PRM first errors and choice of failures as
      SCOPE, but it trains only the teacher's corrected step on the policy's own prefix, with plain
      likelihood, and nothing else. If SCOPE is just its teacher tokens, the two end alike.
    </p>`,
    formula: 'loss = −mean log p(teacher step k | own steps 1..k−1)',
  },
};

export class SlHowItWorks extends LitElement {
  static override properties = { open: {} };
  /** The algorithm whose section is open. */
  declare open: Algo | null;

  static override styles = [
    base,
    css`
      details {
        border-top: 1px solid var(--sl-border);
        padding: 6.4px 0;
      }
      summary {
        cursor: pointer;
        font-weight: 600;
        padding: 3.2px 0;
      }
      .formula {
        display: block;
        background: var(--sl-bg);
        border: 1px solid var(--sl-border);
        border-radius: var(--sl-radius);
        padding: 6.4px 8px;
        overflow-x: auto;
        white-space: pre-wrap;
        overflow-wrap: anywhere;
      }
    `,
  ];

  constructor() {
    super();
    this.open = null;
  }

  /** Open one algorithm's section, scroll to it and focus it (the controls' "How it works" link). */
  async show(algo: Algo): Promise<void> {
    this.open = algo;
    await this.updateComplete;
    const summary = this.renderRoot.querySelector<HTMLElement>(`#how-${algo} summary`);
    summary?.scrollIntoView({ block: 'start', behavior: 'smooth' });
    summary?.focus();
  }

  override render() {
    return html`<h2>How it works</h2>
      ${COMMON}
      ${ALGOS.map((a) => {
        const e = EXPLANATIONS[a];
        return html`<details
          id="how-${a}"
          ?open=${this.open === a}
          @toggle=${(ev: Event) => {
            if ((ev.target as HTMLDetailsElement).open) this.open = a;
          }}
        >
          <summary>${ALGO_LABEL[a]}</summary>
          ${e.words}
          <p>Key formula:</p>
          <code class="formula">${e.formula}</code>
        </details>`;
      })}`;
  }
}

define('sl-how-it-works', SlHowItWorks);

declare global {
  interface HTMLElementTagNameMap {
    'sl-how-it-works': SlHowItWorks;
  }
}
