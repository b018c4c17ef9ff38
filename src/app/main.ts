/**
 * The teaching page's bootstrap: one <scope-lab-app>, given the training-session factory (policy
 * and PRM in Web Workers, runs saved to IndexedDB) and the base URL the shipped checkpoints are
 * served under (this document's base: public/checkpoints/).
 */
import { TrainingSession } from '../browser/session';
import { openStore } from '../storage';
import '../ui/app';

declare global {
  interface Window {
    /** Test hook: the newest session this page created (e2e fault injection, device loss). */
    scopeLabSession: TrainingSession | null;
  }
}

const app = document.querySelector('scope-lab-app');
if (!app) throw new Error('index.html has no <scope-lab-app> element');
window.scopeLabSession = null;
// `?remeasure=1`: the first session's `auto` measures wasm against webgpu again (docs/performance.md).
let remeasure = new URLSearchParams(location.search).get('remeasure') === '1';
app.createSession = async (opts) => {
  const remeasureBackend = remeasure;
  remeasure = false;
  const session = await TrainingSession.create({ ...opts, remeasureBackend }, (namespace) =>
    openStore(namespace),
  );
  window.scopeLabSession = session;
  return session;
};
app.assetsBase = document.baseURI;
