import { readFile } from 'node:fs/promises';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { sleep } from '../../../lib/clock.js';
import { InvalidInputError } from '../../../lib/errors.js';
import { isTerminal } from '../../../lib/protocol/result.js';
import { MAX_WORKFLOW_BYTES } from '../../../lib/protocol/workflow.js';
import { getResult } from '../../../lib/redis/task-store.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, printJson, statusColour } from '../cli-context.js';
import { graphLines, readWorkflow, submitWorkflow, workflowGraph } from '../../operations/workflows.js';
import { describeResult, waitExitCode } from '../task-view.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface RunArgs extends GlobalArgs {
  file: string;
  wait: boolean;
  timeout: number;
}

/** 1 s: a person watching steps of minutes each, and one read of the graph per look. */
const WATCH_INTERVAL_MS = 1_000;

export const runCommand: CommandModule<GlobalArgs, RunArgs> = {
  ...COMMAND_HEADINGS.run,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .positional('file', { type: 'string', demandOption: true, describe: 'A workflow YAML file (see examples/workflow.yaml)' })
    .option('wait', { alias: 'w', type: 'boolean', default: false, describe: 'Show each step as it changes until the workflow ends; exit 0 if every step completed, 1 if not' })
    .option('timeout', { type: 'number', default: 3600, describe: 'Seconds to wait at most with --wait' })
    .example('$0 run examples/workflow.yaml --wait', 'run a workflow and watch its steps') as Argv<RunArgs>,
  handler: async (argv: ArgumentsCamelCase<RunArgs>) => {
    const ctx = cliContext(argv);
    let text: string;
    try {
      const handle = await readFile(argv.file);
      if (handle.length > MAX_WORKFLOW_BYTES) throw new InvalidInputError(`${argv.file} is ${handle.length} bytes, over the ${MAX_WORKFLOW_BYTES}-byte limit of a workflow file: split it into smaller workflows`);
      text = handle.toString('utf8');
    } catch (error) {
      if (error instanceof InvalidInputError) throw error;
      throw new InvalidInputError(`cannot read ${argv.file} (${(error as Error).message}): give the path of a workflow YAML file`);
    }
    const workflow = readWorkflow(text, argv.file);
    const { redis, keys } = await cliRedis(ctx);
    try {
      const { workflowId, steps } = await submitWorkflow(redis, keys, ctx.config, workflow, { source: 'cli' });
      if (!argv.wait) {
        if (ctx.json) printJson({ workflow_id: workflowId, steps: steps.map((s) => ({ name: s.name, task_id: s.taskId })) });
        else process.stdout.write(`${workflowId}\n`);
        return;
      }
      if (!ctx.json) process.stderr.write(`queued workflow ${workflow.name} as ${workflowId} (${steps.length} steps); waiting (Ctrl-C stops waiting, not the workflow)\n`);
      const seen = new Map<string, string>();
      const until = Date.now() + argv.timeout * 1000;
      let result = await getResult(redis, keys, workflowId);
      while (Date.now() < until) {
        for (const step of (await workflowGraph(redis, keys, workflowId)) ?? []) {
          if (seen.get(step.name) !== step.status && !ctx.json) process.stderr.write(`${step.name}: ${statusColour(step.status)}${step.error ? ` - ${step.error}` : ''}\n`);
          seen.set(step.name, step.status);
        }
        result = await getResult(redis, keys, workflowId);
        if (!result || isTerminal(result.status)) break;
        await sleep(WATCH_INTERVAL_MS);
      }
      const graph = (await workflowGraph(redis, keys, workflowId)) ?? [];
      if (ctx.json) printJson({ workflow_id: workflowId, status: result?.status ?? 'unknown', error: result?.error ?? null, steps: graph });
      else if (result) process.stdout.write(`${describeResult(result)}\n${graphLines(graph).map((l) => `  ${l}`).join('\n')}\n`);
      if (!result || result.status !== 'completed') process.exitCode = waitExitCode(result);
    } finally {
      redis.disconnect();
    }
  },
};
