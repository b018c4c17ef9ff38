/**
 * npm run eval -- --task <add|arith> --checkpoint <dir> [--n N] [--seed S] [--json]
 * npm run eval -- --scenario edge [--edge-n N] [--checkpoint <dir>] [--json]
 * Evaluates the policy in <dir> (policy.json/.bin, or a train run directory's latest checkpoint) on
 * the fixed test and ood sets; the PRM in <dir> (a run's start PRM; if there is none, the shipped
 * one of the task) for prmFirstErrorAcc. With the edge scenario,
 * also the edge evaluation (src/core/evaluate.ts `evaluateEdge`): the start of the scenario.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PolicyModel, PrmModel } from '../src/core/agents';
import { evaluatePolicy, formatEdge } from '../src/core/evaluate';
import { getTask } from '../src/core/tasks';
import { useBackend } from '../src/node/backend';
import { cliMain } from '../src/node/cli';
import { readCheckpoint } from '../src/node/files';
import { EVAL_HELP, parseEvalArgs } from '../src/node/options';
import { checkpointDirOf, RUN_JSON, readRunRecord } from '../src/node/run-dir';

await cliMain(EVAL_HELP, async () => {
  const args = parseEvalArgs(process.argv.slice(2));
  if (!args) return console.log(EVAL_HELP);
  const { n, seed, checkpointDir: dir } = args;
  const task = getTask(args.task);
  const policyDir = checkpointDirOf(dir);
  const pc = readCheckpoint(policyDir, 'policy', task.name);
  const runStart = existsSync(path.join(dir, RUN_JSON)) ? readRunRecord(dir).start?.dir : undefined;
  const prmDir = existsSync(path.join(dir, 'prm.json'))
    ? dir
    : (runStart ?? path.join('public', 'checkpoints', task.name));
  const rc = readCheckpoint(prmDir, 'prm', task.name);
  await useBackend(args.backend);
  const policy = PolicyModel.fromCheckpoint(task, pc.manifestJson, pc.blob);
  const prm = PrmModel.fromCheckpoint(task, rc.manifestJson, rc.blob);
  const t0 = Date.now();
  const r = await evaluatePolicy(task, policy, prm, {
    n,
    seed,
    edgeN: args.edgeN,
    temperature: args.temperature,
  });
  const summary = {
    testAcc: r.testAcc,
    testAccSampled: r.testAccSampled,
    oodAcc: r.oodAcc,
    passAt8: r.passAt8,
    diversity: r.diversity,
    correctPaths: r.correctPaths,
    prmFirstErrorAcc: r.prmFirstErrorAcc,
    ...(r.edge ? { edge: r.edge } : {}),
  };
  if (!args.json) {
    console.log(
      `${task.name} ${dir}${args.scenario ? ` scenario ${args.scenario}` : ''} (n=${n}, seed=${seed}, ${((Date.now() - t0) / 1000).toFixed(1)}s)`,
    );
    for (const [k, v] of Object.entries(r))
      if (k !== 'edge') console.log(`  ${k.padEnd(32)} ${v === null ? '-' : (v as number).toFixed(4)}`);
    if (r.edge) for (const line of formatEdge(r.edge)) console.log(line);
  } else console.log(JSON.stringify(summary));
});
