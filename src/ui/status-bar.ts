/**
 * <sl-status>: what the machine is doing, per run: backend and adapter, token rates, ms per phase
 * of the last iteration, memory, updates skipped as non-finite, and every error or notice in words a
 * student can act on.
 */
import { css, html, LitElement, nothing } from 'lit';
import type { BackendInfo } from '../browser/session-api';
import { bytes, ms, rate } from './format';
import type { RunModel } from './run-model';
import { base, define } from './styles';

/** JS heap in use, where the browser tells (Chromium's non-standard performance.memory). */
function heapBytes(): number | null {
  const mem = (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory;
  return mem ? mem.usedJSHeapSize : null;
}

export function backendText(b: BackendInfo | null): string {
  if (!b) return 'not loaded yet';
  const parts: string[] = [b.backend];
  if (b.adapter) parts.push(b.adapter);
  if (b.backend === 'wasm') parts.push(`${b.threads} thread${b.threads === 1 ? '' : 's'}`);
  if (b.gradientWorker) parts.push('updates on 2 cores');
  if (b.requested !== b.backend) parts.push(`requested ${b.requested}`);
  return parts.join(' · ');
}

export class SlStatus extends LitElement {
  static override properties = {
    runs: { attribute: false },
  };
  declare runs: RunModel[];

  static override styles = [
    base,
    css`
      :host {
        display: block;
        min-width: 0;
      }
      .run {
        display: flex;
        flex-wrap: wrap;
        gap: 3.2px 16px;
        font-size: 14.1px;
      }
      .run + .run {
        margin-top: 4.8px;
        padding-top: 4.8px;
        border-top: 1px solid var(--sl-border);
      }
      dl {
        display: contents;
      }
      .item {
        display: inline-flex;
        gap: 0.3em;
        min-width: 0;
      }
      dt {
        color: var(--sl-muted);
      }
      dd {
        margin: 0;
        overflow-wrap: anywhere;
      }
      .msg {
        margin: 4.8px 0 0;
        font-size: 14.1px;
      }
      .msg.error {
        font-weight: 600;
      }
    `,
  ];

  constructor() {
    super();
    this.runs = [];
  }

  private item(label: string, value: string, id?: string) {
    return html`<div class="item"><dt>${label}</dt><dd data-status=${id ?? nothing}>${value}</dd></div>`;
  }

  override render() {
    const heap = heapBytes();
    return html`${this.runs.map((r) => {
      const t = r.latest?.metrics.timeMs;
      const notice = r.notices.at(-1);
      const skipped = r.metrics.reduce((n, m) => n + m.skippedUpdates, 0);
      return html`<section class="run" aria-label="Status of ${r.label}">
          <strong>${r.label}</strong>
          <dl>
            ${this.item('backend', backendText(r.backend), 'backend')}
            ${this.item('sampling tokens', rate(r.throughput.generatedPerSec))}
            ${this.item('training tokens', rate(r.throughput.trainedPerSec))}
            ${
              t
                ? this.item(
                    'last iteration',
                    `${ms(t.total)} (generate ${ms(t.generate)}, PRM ${ms(t.prm)}, rectify/reset ${ms(t.rectify)}, update ${ms(t.update)})`,
                    'phases',
                  )
                : nothing
            }
            ${heap !== null ? this.item('memory', `${bytes(heap)} JS heap`) : nothing}
            ${skipped > 0 ? this.item('skipped updates', `${skipped} (not finite)`, 'skipped') : nothing}
          </dl>
        </section>
        ${r.backend?.note ? html`<p class="msg muted">${r.label}: ${r.backend.note}</p>` : nothing}
        ${notice ? html`<p class="msg ${notice.level === 'error' ? 'error' : 'muted'}">${r.label}: ${notice.message}</p>` : nothing}
        ${r.error ? html`<p class="msg error" role="alert" data-status="error">${r.label}: ${r.error}</p>` : nothing}`;
    })}`;
  }
}

define('sl-status', SlStatus);

declare global {
  interface HTMLElementTagNameMap {
    'sl-status': SlStatus;
  }
}
