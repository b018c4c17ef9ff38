/**
 * The <scope-trainer> attributes: names, defaults, and validation. Everything an attribute says is
 * data: the RL knobs go through the same `parseRlConfig` (zod schema) as the CLI and the page, the
 * widget's own attributes through a small zod schema here; a bad value becomes one message naming
 * the attribute and the value. Nothing is evaluated, fetched or imported from an attribute except
 * `assets`, a base URL for the checkpoint files (http(s) only).
 */

import { BACKEND_CHOICES, type BackendChoice, type SessionOptions } from '../browser/session-api';
import { ALGOS, type Algo, parseRlConfig, type RlConfig } from '../core/rl/config';
import { SCENARIO_NAMES, type ScenarioName, scenarioConfig } from '../core/scenarios';
import { z } from '../core/zod';
import { CHARTS } from '../ui/series';

/** The attributes the element reads (and re-reads when they change). */
export const WIDGET_ATTRIBUTES = [
  'task',
  'algo',
  'iters',
  'seed',
  'backend',
  'autostart',
  'view',
  'assets',
  'scenario',
  'tau',
  'group-size',
  'lr',
  'eval-n',
  'race',
  'chart',
] as const;
export type WidgetAttribute = (typeof WIDGET_ATTRIBUTES)[number];

/** Re-exported for the widget's public API (src/widget/index.ts). */
export { BACKEND_CHOICES };
export const VIEWS = ['compact', 'full'] as const;
export type WidgetView = (typeof VIEWS)[number];

/**
 * What an attribute left out means. The RL knobs not listed fall back to DEFAULT_RL (the shipped
 * defaults); these few are smaller so that a widget in a tutorial shows results within a minute.
 */
export const WIDGET_DEFAULTS = {
  task: 'add',
  algo: 'scope',
  /** Iterations of one run (a tutorial's reader watches it; the page default is 200). */
  iters: 40,
  seed: 1,
  backend: 'auto',
  view: 'compact',
  /** Problems per evaluation split (DEFAULT_RL: 200); evaluations run at 0, every evalEvery, end. */
  evalN: 50,
  /** Evaluate every N iterations. */
  evalEvery: 10,
  /** Autosave a checkpoint to the widget's IndexedDB namespace every N iterations. */
  autosaveEvery: 5,
  scenario: 'sharpen',
  /** The compact view's chart. */
  chart: 'reward',
} as const;

/** RL knobs a widget attribute sets directly (attribute name -> RlConfig key). */
export const KNOB_ATTRIBUTES = {
  iters: 'iters',
  seed: 'seed',
  tau: 'tau',
  'group-size': 'groupSize',
  lr: 'lr',
  'eval-n': 'evalN',
} as const satisfies Partial<Record<WidgetAttribute, keyof RlConfig>>;

/** The validated attributes. */
export interface WidgetSpec {
  config: RlConfig;
  scenario: ScenarioName;
  /** A second algorithm trained beside the first on the same settings (`race`), else null. */
  race: RlConfig | null;
  /** The compact view's chart (one of CHARTS). */
  chart: string;
  backend: BackendChoice;
  view: WidgetView;
  autostart: boolean;
  /** Where `checkpoints/<task>/...` live; null: next to the widget module. */
  assets: URL | null;
}

export class WidgetAttributeError extends Error {
  override name = 'WidgetAttributeError';
}

/** `autostart` is a boolean attribute; "false" is accepted too because people write it. */
const autostartSchema = z
  .enum(['', 'autostart', 'true', 'false'], { error: 'expected no value, "true" or "false"' })
  .transform((v) => v !== 'false');

const widgetSchema = z.object({
  backend: z.enum(BACKEND_CHOICES),
  view: z.enum(VIEWS),
  autostart: autostartSchema,
  scenario: z.enum(SCENARIO_NAMES),
  race: z.enum(['none', ...ALGOS]),
  chart: z.enum(CHARTS.map((c) => c.id) as [string, ...string[]]),
});

/**
 * A decimal number (integer, fraction or exponent form: "8", "0.5", "2e-5") becomes a number;
 * anything else stays a string, so the schema reports the text as written.
 */
function numberOrText(raw: string, decimals: boolean): number | string {
  const form = decimals ? /^\s*-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i : /^\s*-?\d+\s*$/;
  return form.test(raw) ? Number(raw) : raw;
}

/** Knobs that take fractions (the others are whole numbers, written in decimal digits only). */
const FRACTION_KNOBS: ReadonlySet<string> = new Set(['tau', 'lr']);

function assetsUrl(raw: string, baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(raw, baseUrl);
  } catch {
    throw new WidgetAttributeError(`invalid assets ${JSON.stringify(raw)}: not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new WidgetAttributeError(`invalid assets ${JSON.stringify(raw)}: only http(s) URLs are allowed`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/**
 * Validate the attributes (`get` returns an attribute's text or null when absent). `baseUrl` resolves
 * a relative `assets` (the page's URL). Throws WidgetAttributeError with a message for the reader.
 */
export function parseWidgetAttributes(
  get: (name: WidgetAttribute) => string | null,
  baseUrl: string,
): WidgetSpec {
  const own = {
    backend: get('backend') ?? WIDGET_DEFAULTS.backend,
    view: get('view') ?? WIDGET_DEFAULTS.view,
    autostart: get('autostart') ?? 'false',
    scenario: get('scenario') ?? WIDGET_DEFAULTS.scenario,
    race: get('race') ?? 'none',
    chart: get('chart') ?? WIDGET_DEFAULTS.chart,
  };
  const res = widgetSchema.safeParse(own);
  if (!res.success) {
    const issue = res.error.issues[0];
    const key = String(issue.path[0]) as keyof typeof own;
    throw new WidgetAttributeError(`invalid ${key} ${JSON.stringify(own[key])}: ${issue.message}`);
  }
  const rl: Record<string, unknown> = {
    algo: get('algo') ?? WIDGET_DEFAULTS.algo,
    iters: WIDGET_DEFAULTS.iters,
    seed: WIDGET_DEFAULTS.seed,
    evalN: WIDGET_DEFAULTS.evalN,
    evalEvery: WIDGET_DEFAULTS.evalEvery,
  };
  const task = get('task');
  // Without `task` the scenario's own task (sharpen: add).
  if (task !== null) rl.task = task;
  else if (own.scenario === WIDGET_DEFAULTS.scenario) rl.task = WIDGET_DEFAULTS.task;
  for (const [name, key] of Object.entries(KNOB_ATTRIBUTES)) {
    const raw = get(name as WidgetAttribute);
    if (raw !== null) rl[key] = numberOrText(raw, FRACTION_KNOBS.has(key));
  }
  const configOf = (algo: unknown): RlConfig => {
    try {
      // The schema's own messages first ("invalid task \"nope\": ..."), then the scenario's rules.
      parseRlConfig({ ...rl, algo });
      const c = scenarioConfig(res.data.scenario, { ...rl, algo });
      // A scenario's edge evaluation (at the start and the end) is as large as the widget's others.
      return c.edgeEvalN > 0 ? { ...c, edgeEvalN: c.evalN } : c;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new WidgetAttributeError(algo === rl.algo ? msg : `race ${JSON.stringify(algo)}: ${msg}`);
    }
  };
  const config = configOf(rl.algo);
  const raceAlgo = res.data.race === 'none' ? null : (res.data.race as Algo);
  if (raceAlgo === config.algo)
    throw new WidgetAttributeError(`invalid race "${raceAlgo}": race needs a different algorithm than algo`);
  const assets = get('assets');
  return {
    config,
    scenario: res.data.scenario,
    race: raceAlgo === null ? null : configOf(raceAlgo),
    chart: res.data.chart,
    backend: res.data.backend,
    view: res.data.view,
    autostart: res.data.autostart,
    assets: assets === null ? null : assetsUrl(assets, baseUrl),
  };
}

/** Prefix of every widget's IndexedDB namespace (the page app uses 'scope-lab'). */
export const NAMESPACE_PREFIX = 'scope-trainer';

/**
 * The widget's storage namespace: from its `id`, else its `name` attribute, else its position
 * among the page's widgets (1, 2, ...; stable for a static page, so a reload finds its runs).
 */
export function storageNamespace(id: string | null, name: string | null, ordinal: number): string {
  const key = id?.trim() || name?.trim() || `#${ordinal}`;
  return `${NAMESPACE_PREFIX}/${key}`;
}

/** Session options for a validated spec; `moduleBase` is the directory of the widget module. */
export function sessionOptions(
  spec: WidgetSpec,
  moduleBase: string,
  namespace: string | null,
  config: RlConfig = spec.config,
): SessionOptions {
  return {
    config,
    backend: spec.backend,
    assetsBase: spec.assets ?? moduleBase,
    storageNamespace: namespace,
    autosaveEvery: WIDGET_DEFAULTS.autosaveEvery,
    parallelStartEval: true,
    // A race's two runs keep both cores busy on their own: no gradient workers (same numbers).
    gradientWorker: spec.race === null,
  };
}
