/**
 * The widget module: `<script type="module" src=".../scope-trainer.js">` defines <scope-trainer>.
 * Loading it twice (two copies of the snippet) keeps the first definition.
 */
import { define } from '../ui/styles';
import { ScopeTrainer } from './scope-trainer';

export { BACKEND_CHOICES, VIEWS, WIDGET_ATTRIBUTES, WIDGET_DEFAULTS } from './attributes';
export { ScopeTrainer, type ScopeTrainerEventMap } from './scope-trainer';

export const TAG_NAME = 'scope-trainer';

define(TAG_NAME, ScopeTrainer);

declare global {
  interface HTMLElementTagNameMap {
    'scope-trainer': ScopeTrainer;
  }
}
