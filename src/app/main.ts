/**
 * The teaching page's bootstrap: one <scope-lab-app>, given the training-session factory (policy
 * and PRM in Web Workers, runs saved to IndexedDB) and the base URL the shipped checkpoints are
 * served under (this document's base: public/checkpoints/).
 */
import { TrainingSession } from '../browser/session';
import { openStore } from '../storage';
import '../ui/app';

const app = document.querySelector('scope-lab-app');
if (!app) throw new Error('index.html has no <scope-lab-app> element');
declare global {
  interface Window {
    /** Test hook: the sessions this page created, newest last (e2e fault injection, device loss). */
    scopeLabSessions: TrainingSession[];
  }
}

window.scopeLabSessions = [];
app.createSession = async (opts) => {
  const session = await TrainingSession.create(opts, (namespace) => openStore(namespace));
  // The page trains at most two runs at once (compare): older, disposed sessions are let go.
  window.scopeLabSessions = [...window.scopeLabSessions, session].slice(-2);
  return session;
};
app.assetsBase = document.baseURI;
