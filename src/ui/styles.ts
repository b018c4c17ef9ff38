/**
 * Styles shared by the components, adopted inside each shadow root: no global CSS, so the same
 * components work in the page and in <scope-trainer> on a host page whose CSS we do not control.
 * Theme values are CSS custom properties with defaults, so a host may restyle on purpose.
 */
import { css, type LitElement } from 'lit';

export const base = css`
  :host {
    --sl-fg: #1b1f24;
    --sl-muted: #5a6470;
    --sl-bg: #ffffff;
    --sl-panel: #f6f7f9;
    --sl-border: #d0d6de;
    --sl-accent: #1f6fb4;
    --sl-accent-fg: #ffffff;
    --sl-danger: #b3261e;
    --sl-ok: #1e7a34;
    --sl-focus: #f0a500;
    --sl-radius: 6px;
    --sl-font: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
    --sl-mono: ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace;
    box-sizing: border-box;
    color: var(--sl-fg);
    font-family: var(--sl-font);
    font-size: 15px;
    line-height: 1.4;
  }
  *,
  *::before,
  *::after {
    box-sizing: inherit;
  }
  [hidden] {
    display: none !important;
  }
  h2,
  h3,
  h4 {
    margin: 0 0 0.4em;
    line-height: 1.2;
  }
  h2 {
    font-size: 18.4px;
  }
  h3 {
    font-size: 16px;
  }
  p {
    margin: 0.3em 0;
  }
  code,
  .mono {
    font-family: var(--sl-mono);
    font-size: 0.92em;
  }
  button {
    font: inherit;
    min-height: 36px;
    padding: 0.3em 0.9em;
    border-radius: var(--sl-radius);
    border: 1px solid var(--sl-border);
    background: var(--sl-bg);
    color: var(--sl-fg);
    cursor: pointer;
  }
  button.primary {
    background: var(--sl-accent);
    border-color: var(--sl-accent);
    color: var(--sl-accent-fg);
  }
  button:disabled {
    opacity: 0.5;
    cursor: not-allowed;
  }
  button.link {
    min-height: 0;
    padding: 0;
    border: 0;
    background: none;
    color: var(--sl-accent);
    text-decoration: underline;
  }
  input:not([type='radio']):not([type='checkbox']),
  select {
    font: inherit;
    color: var(--sl-fg);
    background: var(--sl-bg);
    border: 1px solid var(--sl-border);
    border-radius: var(--sl-radius);
    padding: 0.25em 0.4em;
    min-height: 33.6px;
    max-width: 100%;
  }
  input[type='radio'],
  input[type='checkbox'] {
    width: 17.6px;
    height: 17.6px;
    margin: 0 4.8px 0 0;
    vertical-align: -2.4px;
    accent-color: var(--sl-accent);
  }
  :focus-visible {
    outline: 3px solid var(--sl-focus);
    outline-offset: 2px;
  }
  .panel {
    background: var(--sl-panel);
    border: 1px solid var(--sl-border);
    border-radius: var(--sl-radius);
    padding: 12px;
    min-width: 0;
  }
  .muted {
    color: var(--sl-muted);
  }
  .error {
    color: var(--sl-danger);
  }
  .sr-only {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
  }
`;

/** A teacher's correction of a policy step, as <del>policy</del> <ins>teacher</ins> (inspector, problem box). */
export const corrections = css`
  del {
    color: var(--sl-danger);
  }
  ins {
    color: var(--sl-ok);
    text-decoration: none;
    font-weight: 600;
  }
`;

/** Register a custom element once (a page may load two copies of the bundle). */
export function define(name: string, element: CustomElementConstructor): void {
  if (!customElements.get(name)) customElements.define(name, element);
}

/**
 * Dispatch a bubbling event from a component. Not composed: the parent listens on the component
 * itself, and the event ends at the parent's shadow root (the widget's components' events never
 * reach the host page).
 */
export function emit<T>(el: LitElement, type: string, detail?: T): void {
  el.dispatchEvent(new CustomEvent(type, { detail, bubbles: true }));
}
