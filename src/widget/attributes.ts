/**
 * The <scope-trainer> attributes: names, defaults, and validation. Everything an attribute says is
 * data: the RL knobs go through the same `parseRlConfig` (zod schema) as the CLI and the page, the
 * widget's own attributes through a small zod schema here; a bad value becomes one message naming
 * the attribute and the value. Nothing is evaluated, fetched or imported from an attribute except
 * `assets`, a base URL for the checkpoint files (http(s) only).
 */

import { BACKEND_CHOICES, type BackendChoice, type SessionOptions } from '../browser/session-api';
import { parseRlConfig, type RlConfig } from '../core/rl/config';
import { z } from '../core/zod';

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
} as const;

/** The validated attributes. */
export interface WidgetSpec {
  config: RlConfig;
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
});

/** A whole decimal number stays a string otherwise, so the schema reports the text as written. */
function numberOrText(raw: string): number | string {
  return /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
}

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
  const rl: Record<string, unknown> = {
    task: get('task') ?? WIDGET_DEFAULTS.task,
    algo: get('algo') ?? WIDGET_DEFAULTS.algo,
    iters: WIDGET_DEFAULTS.iters,
    seed: WIDGET_DEFAULTS.seed,
    evalN: WIDGET_DEFAULTS.evalN,
    evalEvery: WIDGET_DEFAULTS.evalEvery,
  };
  for (const name of ['iters', 'seed'] as const) {
    const raw = get(name);
    if (raw !== null) rl[name] = numberOrText(raw);
  }
  let config: RlConfig;
  try {
    config = parseRlConfig(rl);
  } catch (e) {
    throw new WidgetAttributeError(e instanceof Error ? e.message : String(e));
  }
  const own = {
    backend: get('backend') ?? WIDGET_DEFAULTS.backend,
    view: get('view') ?? WIDGET_DEFAULTS.view,
    autostart: get('autostart') ?? 'false',
  };
  const res = widgetSchema.safeParse(own);
  if (!res.success) {
    const issue = res.error.issues[0];
    const key = String(issue.path[0]) as keyof typeof own;
    throw new WidgetAttributeError(`invalid ${key} ${JSON.stringify(own[key])}: ${issue.message}`);
  }
  const assets = get('assets');
  return { config, ...res.data, assets: assets === null ? null : assetsUrl(assets, baseUrl) };
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
): SessionOptions {
  return {
    config: spec.config,
    backend: spec.backend,
    assetsBase: spec.assets ?? moduleBase,
    storageNamespace: namespace,
    autosaveEvery: WIDGET_DEFAULTS.autosaveEvery,
    parallelStartEval: true,
  };
}
