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
app.createSession = (opts) => TrainingSession.create(opts, (namespace) => openStore(namespace));
app.assetsBase = document.baseURI;
