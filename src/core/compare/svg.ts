/**
 * A small line chart as an SVG string (no DOM): axes with "nice" ticks, light grid, one line per
 * series with an optional band (e.g. a 95% CI), a legend on the right and a title.
 */

export interface ChartPoint {
  x: number;
  y: number;
  /** Band around y (both or neither). */
  lo?: number;
  hi?: number;
}

export interface ChartSeries {
  name: string;
  color: string;
  points: ChartPoint[];
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  /** Known range of y (e.g. [0, 1] for a rate): bands are clipped to it, so few seeds do not
   *  stretch the axis with impossible values. */
  yMin?: number;
  yMax?: number;
  /** Smallest x tick step (1 for iterations). */
  xMinStep?: number;
  width?: number;
  height?: number;
}

/** Tick values covering [lo, hi] with a 1-2-5 step, about `target` of them; the domain snaps to them. */
export function niceTicks(
  lo: number,
  hi: number,
  target = 5,
  minStep = 0,
): { ticks: number[]; step: number } {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) throw new Error(`niceTicks: bad range [${lo}, ${hi}]`);
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = Math.max((hi - lo) / target, minStep);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  // Multiply instead of accumulating, so 0.1 * 3 stays 0.3 after rounding to the step's decimals.
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toFixed(decimals)));
  return { ticks, step };
}

function tickLabel(v: number, step: number): string {
  return v.toFixed(Math.max(0, -Math.floor(Math.log10(step))));
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const f = (v: number) => v.toFixed(1);

export function lineChartSvg(spec: ChartSpec): string {
  const W = spec.width ?? 640;
  const H = spec.height ?? 360;
  const m = { left: 60, right: 130, top: 34, bottom: 46 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;

  const clip = (y: number) => Math.min(spec.yMax ?? y, Math.max(spec.yMin ?? y, y));
  const series = spec.series.map((s) => ({
    ...s,
    points: s.points.map((p) => ({
      ...p,
      lo: p.lo === undefined ? undefined : clip(p.lo),
      hi: p.hi === undefined ? undefined : clip(p.hi),
    })),
  }));
  const pts = series.flatMap((s) => s.points);
  const xs = pts.map((p) => p.x);
  const ys = pts.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]);
  const xt = niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1, 6, spec.xMinStep);
  const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1, 5);
  const [x0, x1] = [xt.ticks[0], xt.ticks[xt.ticks.length - 1]];
  const [y0, y1] = [yt.ticks[0], yt.ticks[yt.ticks.length - 1]];
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.top + ph - ((y - y0) / (y1 - y0)) * ph;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${f(m.left + pw / 2)}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(spec.title)}</text>`,
  ];
  // Grid and tick labels.
  for (const t of yt.ticks)
    out.push(
      `<line x1="${m.left}" x2="${m.left + pw}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e5e5e5"/>`,
      `<text x="${m.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${tickLabel(t, yt.step)}</text>`,
    );
  for (const t of xt.ticks)
    out.push(
      `<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${m.top + ph}" y2="${m.top + ph + 4}" stroke="#333"/>`,
      `<text x="${f(sx(t))}" y="${m.top + ph + 16}" text-anchor="middle">${tickLabel(t, xt.step)}</text>`,
    );
  // Axes and their labels.
  out.push(
    `<path d="M${m.left},${m.top}V${m.top + ph}H${m.left + pw}" fill="none" stroke="#333"/>`,
    `<text x="${f(m.left + pw / 2)}" y="${H - 8}" text-anchor="middle">${esc(spec.xLabel)}</text>`,
    `<text transform="translate(14 ${f(m.top + ph / 2)}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`,
  );
  // Bands first, so every line is drawn over every band.
  for (const s of series) {
    const b = s.points.filter((p) => p.lo !== undefined && p.hi !== undefined);
    if (b.length < 2) continue;
    const upper = b.map((p) => `${f(sx(p.x))},${f(sy(p.hi!))}`);
    const lower = b.map((p) => `${f(sx(p.x))},${f(sy(p.lo!))}`).reverse();
    out.push(`<polygon points="${[...upper, ...lower].join(' ')}" fill="${s.color}" fill-opacity="0.15"/>`);
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${f(sx(p.x))},${f(sy(p.y))}`).join('');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`);
    // Markers where points are sparse (evaluations), so single points and kinks stay visible.
    if (s.points.length <= 30)
      for (const p of s.points)
        out.push(`<circle cx="${f(sx(p.x))}" cy="${f(sy(p.y))}" r="2.5" fill="${s.color}"/>`);
  }
  // Legend.
  series.forEach((s, i) => {
    const y = m.top + 8 + i * 16;
    const x = m.left + pw + 14;
    out.push(
      `<line x1="${x}" x2="${x + 18}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="3"/>`,
      `<text x="${x + 24}" y="${y + 4}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
