/**
 * The teaching page's bootstrap: one <scope-lab-app>, given the training-session factory and the
 * base URL the shipped checkpoints are served under (this document's base: public/checkpoints/).
 */
import '../ui/app';
import { createDevSession } from './dev-session';

const app = document.querySelector('scope-lab-app');
if (!app) throw new Error('index.html has no <scope-lab-app> element');
app.createSession = createDevSession;
app.assetsBase = document.baseURI;
