/**
 * The UI components, for the page (<scope-lab-app>) and for embedders such as <scope-trainer>.
 * Importing this module registers every element once (a second copy of the bundle is harmless).
 *
 * Every component keeps its styles in its own shadow root and takes plain data:
 *   <sl-run-buttons .phase .iter .iters ?compact .blocked>  events: train, pause, step, reset
 *   <sl-chart .chart="reward" .runs=[RunHistory]>            one uPlot chart + its text alternative
 *   <sl-charts .runs .charts=["accuracy", ...]>              a grid of charts
 *   <sl-inspector .result .task .tau .colorBy>                events: color-by-change
 *   <sl-status .runs=[RunModel]>                              backend, token rates, phases, errors
 *   <sl-controls .state ?locked>                              events: state-change, show-help
 *   <sl-checkpoints .namespace .refreshKey .activeRunIds>     events: resume-run
 *   <sl-how-it-works>                                         .show(algo)
 * and a run is a RunModel over any Session factory: `new RunModel(factory, sessionOptions, label)`,
 * then train() / pause() / step() / reset(); it fires 'change' (re-render), 'iteration' (detail:
 * IterationResult), 'done' (RunSummary) and 'error' ({message}).
 *
 * A compact trainer is then: one RunModel (its own storageNamespace), <sl-run-buttons compact>, one
 * <sl-chart>, <sl-status>; the full view adds <sl-inspector .result=${run.latest}>.
 */
export { ScopeLabApp } from './app';
export { SlCharts } from './charts-panel';
export { type ResumeRequest, SlCheckpoints } from './checkpoints-panel';
export { SlControls } from './controls-panel';
export { EXPLANATIONS, SlHowItWorks } from './how-it-works';
export { SlChart } from './metric-chart';
export { SlInspector } from './rollout-inspector';
export { SlRunButtons } from './run-buttons';
export {
  combinedPhase,
  errorMessage,
  RunModel,
  type RunPhase,
  type SessionFactory,
  throughput,
} from './run-model';
export { CHARTS, chartData, latestSummary, type RunHistory } from './series';
export * from './state';
export { backendText, SlStatus } from './status-bar';
