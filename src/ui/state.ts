/**
 * The page's whole state in one serialisable object (like TensorFlow Playground's state.ts), mirrored
 * in the URL hash so a configuration can be shared and restored. Pure functions only: parse, serialise,
 * validate. Knob defaults and ranges come from DEFAULT_RL and the RlConfig schema, never from here.
 */
import { BACKEND_CHOICES, type BackendChoice } from '../browser/session-api';
import { ALGOS, type Algo, DEFAULT_RL, type RlConfig, rlConfigSchema } from '../core/rl/config';
import { SCENARIO_NAMES, SCENARIOS, type ScenarioName } from '../core/scenarios';
import { TASK_NAMES, type TaskName } from '../core/tasks/types';
import { UI_KNOBS, type UiKnob } from './knobs';

/** The page's name for BACKEND_CHOICES (controls-panel.ts and the tests use it). */
export const BACKENDS = BACKEND_CHOICES;
/** How the inspector colours a rollout: by PRM step score, or every token by its advantage. */
export const COLOR_BY = ['prm', 'advantage'] as const;
export type ColorBy = (typeof COLOR_BY)[number];

export interface UiState extends Pick<RlConfig, 'task' | 'algo' | UiKnob> {
  /** The lesson's scenario (src/core/scenarios.ts): its hidden knobs (training split, ...) apply. */
  scenario: ScenarioName;
  backend: BackendChoice;
  /** A second algorithm trained side by side from the same checkpoint and seed; null = off. */
  compare: Algo | null;
  colorBy: ColorBy;
}

/** The order of the keys in the URL hash. */
export const STATE_KEYS = ['scenario', 'task', 'algo', ...UI_KNOBS, 'backend', 'compare', 'colorBy'] as const;
export type StateKey = (typeof STATE_KEYS)[number];

/**
 * Where the page departs from DEFAULT_RL, and why: evaluating every 10 iterations (not 25) puts an
 * accuracy point on the chart every few seconds, which is what a class watching live needs.
 */
export const PAGE_OVERRIDES: Partial<Pick<RlConfig, UiKnob>> = { evalEvery: 10 };

function pick<T extends object, K extends keyof T>(obj: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, obj[k]])) as Pick<T, K>;
}

export const DEFAULT_STATE: UiState = Object.freeze({
  ...pick(DEFAULT_RL, ['task', 'algo', ...UI_KNOBS]),
  ...PAGE_OVERRIDES,
  scenario: 'sharpen',
  backend: 'auto',
  compare: null,
  colorBy: 'prm',
});

export type FieldParse<K extends StateKey> = { ok: true; value: UiState[K] } | { ok: false; reason: string };

const oneOf = <T extends string>(values: readonly T[], raw: string, what: string) =>
  (values as readonly string[]).includes(raw)
    ? ({ ok: true, value: raw as T } as const)
    : ({ ok: false, reason: `${what} must be one of ${values.join(', ')}` } as const);

/**
 * One field from its text form (the URL hash or an input's value). Numbers are checked against the
 * RlConfig schema of that knob; `rectifyCap` reads '' or 'auto' as null (= ceil(G/4)).
 */
export function parseField<K extends StateKey>(key: K, raw: string): FieldParse<K> {
  const text = raw.trim();
  switch (key) {
    case 'task':
      return oneOf(TASK_NAMES, text, 'task') as FieldParse<K>;
    case 'algo':
      return oneOf(ALGOS, text, 'algorithm') as FieldParse<K>;
    case 'backend':
      return oneOf(BACKENDS, text, 'backend') as FieldParse<K>;
    case 'colorBy':
      return oneOf(COLOR_BY, text, 'colour mode') as FieldParse<K>;
    case 'scenario':
      return oneOf(SCENARIO_NAMES, text, 'scenario') as FieldParse<K>;
    case 'compare':
      if (text === '' || text === 'none') return { ok: true, value: null as UiState[K] };
      return oneOf(ALGOS, text, 'compare') as FieldParse<K>;
  }
  const knob = key as UiKnob;
  if (knob === 'rectifyCap' && (text === '' || text === 'auto'))
    return { ok: true, value: null as UiState[K] };
  if (text === '' || !Number.isFinite(Number(text))) return { ok: false, reason: `'${raw}' is not a number` };
  const res = rlConfigSchema.shape[knob].safeParse(Number(text));
  if (!res.success) return { ok: false, reason: res.error.issues[0].message };
  return { ok: true, value: res.data as UiState[K] };
}

/** The text form of one field (inverse of parseField). */
export function fieldText(key: StateKey, state: UiState): string {
  const v = state[key];
  if (v === null) return key === 'compare' ? 'none' : 'auto';
  return String(v);
}

/** The RlConfig a session runs (the algorithm overridable for the compare run). */
export function toRlConfig(state: UiState, algo: Algo = state.algo): RlConfig {
  const scenario = SCENARIOS[state.scenario].overrides;
  const c: RlConfig = { ...DEFAULT_RL, ...scenario, ...pick(state, ['task', ...UI_KNOBS]), algo };
  // A scenario's edge evaluation (start and end) is as large as the page's others: its 1,100-problem,
  // 64-sample size is for `npm run compare`, minutes of a class's time here.
  return c.edgeEvalN > 0 ? { ...c, edgeEvalN: c.evalN } : c;
}

/**
 * The state with another scenario: its knobs (those the page shows) replace the current ones, with
 * the page's own overrides (evaluation every 10 iterations) on top.
 */
export function withScenario(state: UiState, scenario: ScenarioName): UiState {
  const sc = SCENARIOS[scenario];
  const knobs = pick({ ...DEFAULT_RL, ...sc.overrides, ...PAGE_OVERRIDES } as RlConfig, UI_KNOBS);
  const task = (sc.tasks as readonly string[]).includes(state.task) ? state.task : sc.task;
  return { ...state, ...knobs, iters: state.iters, seed: state.seed, scenario, task };
}

/** The scenario a stored run's config was made with (its training split tells). */
export function scenarioOf(config: RlConfig): ScenarioName {
  return config.trainSplit === 'edge-train' ? 'edge' : 'sharpen';
}

export interface StateIssue {
  key: StateKey;
  message: string;
}

/** Checks across fields (the schema's refinements, for the main and the compared algorithm). */
export function stateIssues(state: UiState): StateIssue[] {
  const issues: StateIssue[] = [];
  if (state.compare !== null && state.compare === state.algo)
    issues.push({ key: 'compare', message: 'compare needs a different algorithm than the main one' });
  for (const algo of state.compare ? [state.algo, state.compare] : [state.algo]) {
    const res = rlConfigSchema.safeParse(toRlConfig(state, algo));
    if (res.success) continue;
    for (const issue of res.error.issues) {
      const key = String(issue.path[0] ?? '');
      const stateKey = (STATE_KEYS as readonly string[]).includes(key) ? (key as StateKey) : 'algo';
      if (!issues.some((i) => i.key === stateKey)) issues.push({ key: stateKey, message: issue.message });
    }
  }
  return issues;
}

export interface ParsedHash {
  state: UiState;
  /** One line per value that was reset to its default or ignored (shown to the user). */
  notices: string[];
}

/** The state from a URL hash ('#task=add&algo=scope&...'); missing keys take their defaults. */
export function parseHash(hash: string): ParsedHash {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const state: Record<string, unknown> = { ...DEFAULT_STATE };
  const notices: string[] = [];
  for (const [key, raw] of params) {
    if (!(STATE_KEYS as readonly string[]).includes(key)) {
      notices.push(`unknown setting '${key}' ignored`);
      continue;
    }
    const res = parseField(key as StateKey, raw);
    if (res.ok) state[key] = res.value;
    else
      notices.push(`${key}='${raw}': ${res.reason}; reset to ${fieldText(key as StateKey, DEFAULT_STATE)}`);
  }
  // Cross-field problems (e.g. an odd G for RRPO): reset the named field, then re-check.
  for (let round = 0; round < STATE_KEYS.length; round++) {
    const [issue] = stateIssues(state as unknown as UiState);
    if (!issue) break;
    state[issue.key] = DEFAULT_STATE[issue.key];
    notices.push(`${issue.key}: ${issue.message}; reset to ${fieldText(issue.key, DEFAULT_STATE)}`);
  }
  return { state: state as unknown as UiState, notices };
}

/** The URL hash of a state (every key, so a shared link does not depend on today's defaults). */
export function serialiseHash(state: UiState): string {
  const params = new URLSearchParams();
  for (const key of STATE_KEYS) params.set(key, fieldText(key, state));
  return `#${params.toString()}`;
}

/** The state of a stored run's config (resuming it): its task, algorithm and knobs; compare off. */
export function stateFromConfig(state: UiState, config: RlConfig): UiState {
  return {
    ...state,
    ...pick(config, ['task', 'algo', ...UI_KNOBS]),
    scenario: scenarioOf(config),
    compare: null,
  };
}

/** A copy of the state with one field changed (validated by the caller with parseField). */
export function withField<K extends StateKey>(state: UiState, key: K, value: UiState[K]): UiState {
  return { ...state, [key]: value };
}

export type { Algo, TaskName };
