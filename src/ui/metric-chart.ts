/**
 * <sl-chart>: one uPlot chart of a ChartSpec (series.ts) for one or two runs. Points are added as
 * the runs' histories grow (setData, no rebuild). The text alternative lists the latest values and
 * is the accessible name of the plot. uPlot's own legend says which line is which, shows the values
 * under the cursor (hover or touch) and toggles a line on click; a line the spec marks `hidden`
 * starts off. Compared runs differ by colour, by marker (filled / hollow) and by the run's name in
 * each label; dashes tell one run's metrics apart.
 */
import { css, html, LitElement, type PropertyValues, unsafeCSS } from 'lit';
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css?inline';
import { RUN_COLORS, SERIES_COLORS } from './colors';
import {
  type ChartData,
  type ChartSpec,
  chartData,
  chartSpec,
  formatValue,
  historiesChanged,
  latestSummary,
  type RunHistory,
} from './series';
import { base, define } from './styles';

const HEIGHT = 170;
/** Dash patterns telling the metrics of one run apart when runs are compared (colour = run). */
const DASHES: (number[] | undefined)[] = [undefined, [6, 4], [2, 3], [10, 3, 2, 3]];

/** Iterations are whole numbers: tick steps of 1, 2, 5, 10, 20, 50, ... */
const ITER_INCRS = [1, 2, 5]
  .flatMap((m) => [1, 10, 100, 1000, 10_000].map((p) => m * p))
  .sort((a, b) => a - b);

/** Tick labels; plain numbers keep uPlot's own formatting (it picks the digits a range needs). */
function axisValues(unit: ChartSpec['unit']): uPlot.Axis['values'] {
  if (unit === 'pct') return (_u, splits) => splits.map((v) => `${Math.round(v * 100)}%`);
  if (unit === 'ms') return (_u, splits) => splits.map((v) => (v >= 1000 ? `${v / 1000}s` : `${v}ms`));
  return undefined;
}

export class SlChart extends LitElement {
  static override properties = {
    chart: {},
    runs: { attribute: false, hasChanged: historiesChanged },
  };
  /** Which chart of CHARTS ('accuracy', 'reward', ...). */
  declare chart: string;
  declare runs: RunHistory[];

  private plot: uPlot | null = null;
  private plotKey = '';
  private resize: ResizeObserver | null = null;
  private width = 300;

  static override styles = [
    base,
    unsafeCSS(uplotCss),
    css`
      :host {
        display: block;
        min-width: 0;
      }
      figure {
        margin: 0;
      }
      figcaption {
        font-size: 13.4px;
        color: var(--sl-muted);
      }
      .plot {
        width: 100%;
        min-height: ${HEIGHT}px;
        overflow: hidden;
      }
      .plot .u-legend {
        font-size: 13px;
        text-align: left;
      }
      .plot .u-legend .u-series {
        cursor: pointer;
      }
      /* A line turned off: struck through in the muted colour (uPlot's own 0.3 opacity fails contrast). */
      .plot .u-legend .u-series.u-off > * {
        opacity: 1;
      }
      .plot .u-legend .u-series.u-off .u-label {
        color: var(--sl-muted);
        text-decoration: line-through;
      }
      .plot .u-legend .u-value {
        font-variant-numeric: tabular-nums;
      }
      .latest {
        font-size: 13.4px;
        margin-top: 3.2px;
      }
    `,
  ];

  constructor() {
    super();
    this.chart = 'reward';
    this.runs = [];
  }

  private get spec(): ChartSpec {
    return chartSpec(this.chart);
  }

  /** The chart's lines, computed once per update (willUpdate) for render and for the plot. */
  private data!: ChartData;

  protected override willUpdate(): void {
    this.data = chartData(this.spec, this.runs);
  }

  private lineStyle(run: number, line: number) {
    const compared = this.runs.length > 1;
    const stroke = compared
      ? RUN_COLORS[run % RUN_COLORS.length]
      : SERIES_COLORS[line % SERIES_COLORS.length];
    return {
      stroke,
      dash: compared ? DASHES[line % DASHES.length] : undefined,
      /** The second compared run draws hollow markers: a cue beside colour and label. */
      markerFill: compared && run % 2 === 1 ? '#ffffff' : stroke,
    };
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.resize = new ResizeObserver((entries) => {
      const w = Math.floor(entries[0].contentRect.width);
      if (w > 0 && w !== this.width) {
        this.width = w;
        this.plot?.setSize({ width: w, height: HEIGHT });
      }
    });
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resize?.disconnect();
    this.plot?.destroy();
    this.plot = null;
    this.plotKey = '';
  }

  protected override firstUpdated(): void {
    const host = this.renderRoot.querySelector('.plot') as HTMLElement;
    this.resize?.observe(host);
    this.width = Math.max(120, Math.floor(host.getBoundingClientRect().width) || this.width);
  }

  protected override updated(_changed: PropertyValues): void {
    const host = this.renderRoot.querySelector('.plot') as HTMLElement | null;
    if (!host) return;
    const d = this.data;
    const aligned = [d.x, ...d.series.map((s) => s.values)] as uPlot.AlignedData;
    // Rebuild only when the set of lines changes (compare toggled, another chart); else add points.
    const key = `${this.chart}|${d.series.map((s) => s.label).join('|')}`;
    if (this.plot && key === this.plotKey) {
      this.plot.setData(aligned);
      return;
    }
    this.plot?.destroy();
    this.plotKey = key;
    const spec = this.spec;
    const yValues = axisValues(spec.unit);
    this.plot = new uPlot(
      {
        width: this.width,
        height: HEIGHT,
        legend: { show: true, live: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false }, y: spec.unit === 'pct' ? { range: [0, 1] } : {} },
        axes: [
          {
            label: 'iteration',
            size: 34,
            labelSize: 14,
            font: '11px sans-serif',
            labelFont: '11px sans-serif',
            incrs: ITER_INCRS,
          },
          {
            label: spec.yLabel,
            size: 48,
            labelSize: 14,
            font: '11px sans-serif',
            labelFont: '11px sans-serif',
            ...(yValues ? { values: yValues } : {}),
          },
        ],
        series: [
          { label: 'iteration', value: (_u: uPlot, v: number | null) => (v == null ? '–' : String(v)) },
          ...d.series.map((s) => {
            const st = this.lineStyle(s.run, s.line);
            const eval_ = spec.lines[s.line].source === 'eval';
            return {
              label: s.label,
              show: !s.hidden,
              stroke: st.stroke,
              ...(st.dash ? { dash: st.dash } : {}),
              width: 2,
              spanGaps: true,
              value: (_u: uPlot, v: number | null) => formatValue(spec.unit, v),
              points: {
                show: true,
                size: eval_ || this.runs.length > 1 ? 6 : 3,
                stroke: st.stroke,
                fill: st.markerFill,
                width: 1.5,
              },
            };
          }),
        ],
      },
      aligned,
      host,
    );
  }

  override render() {
    const spec = this.spec;
    const d = this.data;
    const summary = latestSummary(spec, d);
    const titleId = `t-${spec.id}`;
    return html`<figure aria-labelledby=${titleId}>
      <h3 id=${titleId}>${spec.title}</h3>
      <figcaption>${spec.caption}</figcaption>
      <div class="plot" role="group" aria-label="${spec.title} (${spec.yLabel}): ${summary}"></div>
      <p class="latest" data-points=${d.x.length}>Latest: ${summary}</p>
    </figure>`;
  }
}

define('sl-chart', SlChart);

declare global {
  interface HTMLElementTagNameMap {
    'sl-chart': SlChart;
  }
}
