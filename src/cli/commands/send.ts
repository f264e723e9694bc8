import { parseBudgetUsd } from '../../../lib/protocol/budget.js';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { InvalidInputError } from '../../../lib/errors.js';
import type { Delivery, Priority } from '../../../lib/protocol/task.js';
import { DELIVERIES, DEFAULT_TIMEOUT_SECONDS, MAX_ATTEMPTS_CAP, MAX_TIMEOUT_SECONDS, PRIORITIES, taskIdProblem } from '../../../lib/protocol/task.js';
import { HeartbeatRegistry } from '../../../lib/redis/heartbeat-registry.js';
import { readResultStatus } from '../../../lib/redis/result-fields.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, colourFor, printJson, statusColour } from '../cli-context.js';
import { submitJob, taskProblem } from '../../operations/submit-job.js';
import { describeResult, describeStartFailure, followTask, waitExitCode } from '../task-view.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface SendArgs extends GlobalArgs {
  domain: string;
  description: string;
  priority: Priority;
  timeout: number;
  wait: boolean;
  context?: string;
  requirement?: string[];
  type: string;
  id?: string;
  maxAttempts?: number;
  budgetUsd?: string;
  verify?: string[];
  verifyReplace?: boolean;
  delivery?: Delivery;
  approval?: boolean;
  approvalTimeout?: number;
  after?: string[];
  runAnyway?: boolean;
}

/** Parses `-c`: it must be a JSON object. */
export function parseContext(text: string | undefined): Record<string, unknown> {
  if (text === undefined || text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`--context is not valid JSON (${(error as Error).message}); pass an object such as '{"path": "src"}'`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidInputError('--context must be a JSON object, such as \'{"path": "src"}\'');
  return value as Record<string, unknown>;
}

export const sendCommand: CommandModule<GlobalArgs, SendArgs> = {
  ...COMMAND_HEADINGS.send,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .positional('domain', { type: 'string', demandOption: true, describe: 'main (route it), or a domain: backend, frontend, devops, ...' })
    .positional('description', { type: 'string', demandOption: true, describe: 'What to do' })
    .option('priority', { alias: 'p', choices: PRIORITIES, default: 'normal' as Priority, coerce: (value: string) => String(value).toLowerCase() as Priority, describe: 'Task priority (any case: HIGH, high)' })
    .option('timeout', { alias: 't', type: 'number', default: DEFAULT_TIMEOUT_SECONDS, describe: 'Seconds before the task fails as timed out' })
    .option('wait', { alias: 'w', type: 'boolean', default: false, describe: 'Show progress until the task ends; exit 0 if completed, 1 if not' })
    .option('context', { alias: 'c', type: 'string', describe: 'JSON object passed to the agents as payload.context' })
    .option('requirement', { alias: 'R', type: 'string', array: true, describe: 'A requirement (repeatable)' })
    .option('type', { type: 'string', default: 'task_assignment', describe: "Task type; 'echo' returns the payload without any model" })
    .option('id', { type: 'string', describe: "Task id to use (default: a new UUID): 1-128 of A-Z a-z 0-9 _ . -, not starting with '.' or '-'" })
    .option('max-attempts', { type: 'number', describe: 'Attempts before a retryable failure is final (default: $DAN_MAX_ATTEMPTS, 3)' })
    .option('budget-usd', { type: 'string', describe: "Dollars the task's model calls may cost, its sub-tasks' included; a call past it is refused and the task fails budget_exceeded" })
    .option('verify', { type: 'string', array: true, describe: "A check run in the task's workspace after its workers, e.g. 'npm test' (repeatable); added to the domain's verify:. A task for main gives its checks to the sub-tasks that run last" })
    .option('verify-replace', { type: 'boolean', default: false, describe: "Run only the --verify checks, not the domain's (with no --verify: no checks at all)" })
    .option('approval', { type: 'boolean', describe: 'Wait in awaiting_approval before any work starts, until dan approve (or dan reject) decides' })
    .option('approval-timeout', { type: 'number', describe: 'Seconds it may await approval before it fails approval_timeout (default: $DAN_APPROVAL_WINDOW_MS)' })
    .option('delivery', { choices: DELIVERIES, describe: "In a git workspace, where the task's branch goes when it completes (default: $DAN_TASK_DELIVERY, merge)" })
    .option('after', { type: 'string', array: true, describe: 'Wait until these tasks have ended before queueing this one (ID[,ID], repeatable); it fails with dependency_failed if one does not complete' })
    .option('run-anyway', { type: 'boolean', default: false, describe: 'With --after: run even when a task it waits on failed or was cancelled' })
    .example('$0 send backend "Add the users API" --after 6f1c2a,9e0b4d', 'queued once both tasks have completed')
    .example('$0 send main "Add user registration: a POST /api/users endpoint and a signup form" --wait', 'route across domains and wait')
    .example('$0 send backend "Create a health endpoint" -p high -t 120 --wait', 'straight to a domain')
    .example('$0 send main "Add a login page" --budget-usd 2.50 --wait', 'stop it before its model calls cost more than $2.50')
    .example('$0 send backend "Add a sum function" --verify "npx tsc --noEmit" --verify "npm test" --wait', 'completed only when both checks pass') as Argv<SendArgs>,
  handler: async (argv: ArgumentsCamelCase<SendArgs>) => {
    const ctx = cliContext(argv);
    if (!Number.isFinite(argv.timeout) || argv.timeout <= 0) throw new InvalidInputError(`--timeout must be a positive number of seconds, got ${argv.timeout}`);
    if (argv.timeout > MAX_TIMEOUT_SECONDS) throw new InvalidInputError(`--timeout must be at most ${MAX_TIMEOUT_SECONDS} seconds (7 days), got ${argv.timeout}`);
    if (argv.description.trim() === '' && argv.type !== 'echo') throw new InvalidInputError('the description must not be empty');
    const context = parseContext(argv.context);
    const idProblem = argv.id ? taskIdProblem(argv.id) : undefined;
    if (idProblem !== undefined) throw new InvalidInputError(`--id: ${idProblem}; pick another id, or leave --id out for a UUID`);
    if (argv.maxAttempts !== undefined && !(Number.isInteger(argv.maxAttempts) && argv.maxAttempts > 0)) {
      throw new InvalidInputError(`--max-attempts must be a whole number of at least 1, got ${argv.maxAttempts}`);
    }
    if (argv.maxAttempts !== undefined && argv.maxAttempts > MAX_ATTEMPTS_CAP) {
      throw new InvalidInputError(`--max-attempts must be at most ${MAX_ATTEMPTS_CAP}, got ${argv.maxAttempts}`);
    }
    let budgetUsd: number | undefined;
    try {
      budgetUsd = argv.budgetUsd === undefined ? undefined : parseBudgetUsd(String(argv.budgetUsd));
    } catch (error) {
      throw new InvalidInputError((error as Error).message);
    }
    const extraMetadata = {
      ...(budgetUsd !== undefined ? { budget_usd: budgetUsd } : {}),
      ...(argv.maxAttempts !== undefined ? { max_attempts: argv.maxAttempts } : {}),
      ...(argv.verify !== undefined ? { verify: argv.verify } : {}),
      ...(argv.verifyReplace === true ? { verify: argv.verify ?? [], verify_mode: 'replace' } : {}),
      ...(argv.delivery ? { delivery: argv.delivery } : {}),
      ...(argv.approval === true ? { approval: true } : {}),
      ...(argv.approvalTimeout !== undefined ? { approval_timeout_seconds: argv.approvalTimeout } : {}),
    };
    const task = {
      domain: argv.domain, description: argv.description, type: argv.type, source: 'cli',
      requirements: argv.requirement ?? [], context, priority: argv.priority, timeoutSeconds: argv.timeout,
      ...(Object.keys(extraMetadata).length > 0 ? { extraMetadata } : {}),
    };
    const submit = { ...(argv.id ? { taskId: argv.id } : {}), ...task };
    const problem = taskProblem(submit, ctx.config);
    if (problem !== undefined) throw new InvalidInputError(problem.replace(/^metadata\.verify/, '--verify'));
    const { redis, keys } = await cliRedis(ctx);
    try {
      const after = (argv.after ?? []).flatMap((a) => String(a).split(',')).map((a) => a.trim()).filter((a) => a !== '');
      if (argv.runAnyway === true && after.length === 0) throw new InvalidInputError('--run-anyway goes with --after: name the tasks to wait on');
      const dependencies = argv.after !== undefined ? { after, runIf: argv.runAnyway === true ? 'always' as const : 'success' as const } : undefined;
      const { taskId } = await submitJob(redis, keys, ctx.config, submit, dependencies);
      if (!argv.wait) {
        if (ctx.json) printJson({ task_id: taskId, domain: argv.domain, status: dependencies ? await readResultStatus(redis, keys, taskId) ?? 'waiting' : 'pending' });
        else process.stdout.write(`${taskId}\n`);
        return;
      }
      if (!ctx.json) process.stderr.write(`queued ${taskId} for ${argv.domain}; waiting (Ctrl-C stops waiting, not the task)\n`);
      // Only a hint: if Redis is away just then, say nothing rather than fail the wait.
      const hint = setTimeout(() => void noAgentHint().catch(() => undefined), 5_000);
      async function noAgentHint(): Promise<void> {
        const status = await readResultStatus(redis, keys, taskId);
        if (status === 'pending' && (await new HeartbeatRegistry(redis, keys, ctx.config.heartbeatTtlMs).mainAgentId()) === undefined && !ctx.json) {
          process.stderr.write(`still pending and no main orchestrator is registered: start one with 'dan up'\n`);
        }
      }
      // The task fails itself at its timeout; the extra minute covers queueing and spawning.
      const result = await followTask(redis, keys, taskId, {
        timeoutMs: argv.timeout * 1000 + 60_000,
        children: true,
        onLine: (line, id) => { if (!ctx.json) process.stderr.write(`${colourFor(id, id === taskId ? 'task' : id.slice(taskId.length + 1))} ${line}\n`); },
        onStatus: (status) => { if (!ctx.json) process.stderr.write(`status: ${statusColour(status)}\n`); },
        onStartFailure: (failure) => { if (!ctx.json) process.stderr.write(`${describeStartFailure(failure)}\n`); },
      });
      clearTimeout(hint);
      if (ctx.json) printJson(result ? { task_id: taskId, status: result.status, output: result.output ?? null, error: result.error ?? null } : { task_id: taskId, status: 'unknown' });
      else if (result) process.stdout.write(`${describeResult(result)}\n`);
      if (!result || result.status !== 'completed') {
        if (!ctx.json && result && result.status !== 'failed') process.stderr.write(`gave up waiting: the task is still ${result.status}\n`);
        process.exitCode = waitExitCode(result);
      }
    } finally {
      redis.disconnect();
    }
  },
};
