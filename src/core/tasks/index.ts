import { addTask } from './add';
import { arithTask } from './arith';
import { TASK_NAMES, type Task } from './types';

export { addTask } from './add';
export { arithTask } from './arith';
export * from './types';

const TASKS: Record<string, Task> = { add: addTask, arith: arithTask };

export function getTask(name: string): Task {
  const task = Object.hasOwn(TASKS, name) ? TASKS[name] : undefined;
  if (!task) throw new Error(`unknown task '${name}' (expected one of: ${TASK_NAMES.join(', ')})`);
  return task;
}
