/** <sl-charts>: the live charts of one or two runs in a responsive grid. */
import { css, html, LitElement } from 'lit';
import './metric-chart';
import { CHARTS, historiesChanged, type RunHistory } from './series';
import { base, define } from './styles';

export class SlCharts extends LitElement {
  static override properties = {
    runs: { attribute: false, hasChanged: historiesChanged },
    charts: { attribute: false },
  };
  declare runs: RunHistory[];
  /** Chart ids to show, in order (default: all of CHARTS). */
  declare charts: string[];

  static override styles = [
    base,
    css`
      .grid {
        display: grid;
        grid-template-columns: repeat(auto-fill, minmax(min(100%, 304px), 1fr));
        gap: 12px;
      }
      sl-chart {
        background: var(--sl-bg);
        border: 1px solid var(--sl-border);
        border-radius: var(--sl-radius);
        padding: 8px;
      }
    `,
  ];

  constructor() {
    super();
    this.runs = [];
    this.charts = CHARTS.map((c) => c.id);
  }

  override render() {
    return html`<div class="grid">
      ${this.charts.map((id) => html`<sl-chart data-chart=${id} .chart=${id} .runs=${this.runs}></sl-chart>`)}
    </div>`;
  }
}

define('sl-charts', SlCharts);

declare global {
  interface HTMLElementTagNameMap {
    'sl-charts': SlCharts;
  }
}
