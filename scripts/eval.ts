/**
 * npm run eval -- --task <add|arith> --checkpoint <dir> [--n N] [--seed S] [--json]
 * Evaluates the policy in <dir> (policy.json/.bin) on the fixed test and ood sets; the PRM in <dir>
 * (or, if <dir> has none, the shipped one of the task) for prmFirstErrorAcc.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PolicyModel, PrmModel } from '../src/core/agents';
import { evaluatePolicy } from '../src/core/evaluate';
import { getTask } from '../src/core/tasks';
import { useBackend } from '../src/node/backend';
import { cliMain, intOption } from '../src/node/cli';
import { readCheckpoint } from '../src/node/files';

const HELP = `usage: npm run eval -- --task <add|arith> --checkpoint <dir> [--n N] [--seed S] [--backend wasm|cpu] [--json]
Greedy accuracy on test/ood, sampled pass@1 and pass@8, diversity, correct paths and PRM first-error
accuracy on fixed, seeded evaluation sets of N problems (default 200). --json: the last stdout line is JSON.`;

await cliMain(HELP, async () => {
  const { values } = parseArgs({
    options: {
      task: { type: 'string' },
      checkpoint: { type: 'string' },
      n: { type: 'string', default: '200' },
      seed: { type: 'string', default: '1234' },
      backend: { type: 'string', default: 'wasm' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return console.log(HELP);
  if (!values.task) throw new Error('missing --task (add or arith)');
  if (!values.checkpoint) throw new Error('missing --checkpoint <dir>');
  const task = getTask(values.task);
  const n = intOption('n', values.n, 1, 100_000);
  const seed = intOption('seed', values.seed, 0);
  await useBackend(values.backend as 'wasm');
  const dir = values.checkpoint;
  const pc = readCheckpoint(dir, 'policy');
  const policy = PolicyModel.fromCheckpoint(task, pc.manifestJson, pc.blob);
  const prmDir = existsSync(path.join(dir, 'prm.json')) ? dir : path.join('public', 'checkpoints', task.name);
  const rc = readCheckpoint(prmDir, 'prm');
  const prm = PrmModel.fromCheckpoint(task, rc.manifestJson, rc.blob);
  const t0 = Date.now();
  const r = await evaluatePolicy(task, policy, prm, { n, seed });
  const summary = {
    testAcc: r.testAcc,
    testAccSampled: r.testAccSampled,
    oodAcc: r.oodAcc,
    passAt8: r.passAt8,
    diversity: r.diversity,
    correctPaths: r.correctPaths,
    prmFirstErrorAcc: r.prmFirstErrorAcc,
  };
  if (!values.json) {
    console.log(`${task.name} ${dir} (n=${n}, seed=${seed}, ${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    for (const [k, v] of Object.entries(r))
      console.log(`  ${k.padEnd(32)} ${v === null ? '-' : (v as number).toFixed(4)}`);
  } else console.log(JSON.stringify(summary));
});
