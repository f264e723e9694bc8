import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { appendLog } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { runProcess } from '../support/run-process.js';

const root = packageRoot();
const bin = path.join(root, 'dist/bundle/cli.mjs');
let network: TestNetwork;

const dan = (args: string[]) => runProcess(process.execPath, [bin, ...args], { env: cliEnv(network), timeoutMs: 60_000 });
const script = (name: string, args: string[]) => runProcess('bash', [path.join(root, 'scripts', name), ...args], { env: cliEnv(network, { DAN_BIN: bin }), timeoutMs: 60_000 });
const log = (taskId: string, agentId: string, message: string) =>
  appendLog(network.redis, network.keys, { taskId, agentId, domain: agentId.replace(/-[0-9a-f]{8}$/, ''), message });

beforeAll(async () => { network = await startTestNetwork(); });
afterAll(async () => { await network.stop(); });

describe('dan logs', () => {
  it('-n counts the lines --main, --domains, --grep and -c keep, not the lines read', async () => {
    await log('n-task', 'main-0000000a', 'main line that matters');
    for (let i = 0; i < 30; i++) await log('n-task', 'backend-0000000b', `backend line ${i}`);
    const main = await dan(['logs', '--no-follow', '--source', 'redis', '--main', '--grep', 'matters', '-n', '1']);
    expect(main.code, main.stderr).toBe(0);
    expect(main.stdout).toMatch(/main-0000000a: main line that matters/);
    const byAgent = await dan(['logs', '--no-follow', '--source', 'redis', '-c', 'main-0000000a', '-n', '5']);
    expect(byAgent.stdout).toMatch(/main line that matters/);
    const domains = await dan(['logs', '--no-follow', '--source', 'redis', '--domains', '--grep', 'backend line', '-n', '3']);
    expect(domains.stdout.trim().split('\n').map((line) => /backend line \d+/.exec(line)?.[0])).toEqual(['backend line 27', 'backend line 28', 'backend line 29']);
  });

  it('--task takes the 8 characters dan logs prints, shows the sub-tasks\' lines, and ends with the status', async () => {
    const sent = await dan(['send', 'main', 'say hello', '--type', 'echo']);
    const taskId = sent.stdout.trim();
    await network.waitFor(taskId);
    const run = await dan(['logs', '--task', taskId.slice(0, 8), '--no-follow', '--source', 'redis']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/routed/);
    // The sub-task's own lines: the domain agent that claimed and finished it.
    expect(run.stdout).toMatch(/^(backend|devops|frontend)-[0-9a-f]{8} .*claimed/m);
    expect(run.stdout.trim().split('\n').at(-1)).toBe(`task ${taskId}: completed`);
    const followed = await dan(['logs', '--task', taskId.slice(0, 8), '--source', 'redis']);
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout.trim().split('\n').at(-1)).toBe(`task ${taskId}: completed`);
  });

  it('refuses an unknown or ambiguous task prefix with the candidates instead of following for ever', async () => {
    await log('twin-1', 'main-0000000a', 'one');
    await log('twin-2', 'main-0000000a', 'two');
    const ambiguous = await dan(['logs', '--task', 'twin', '--source', 'redis']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/'twin' starts 2 task ids: twin-1, twin-2; type more of the id/);
    const unknown = await dan(['logs', '--task', 'no-such-task', '--source', 'redis']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no task 'no-such-task' and none starting with it/);
    const status = await dan(['status', 'twin']);
    expect(status.code).toBe(2);
  });

  it('tail-logs.sh follows with -f, and -n abc is a usage error rather than a Redis error', async () => {
    const bad = await script('tail-logs.sh', ['-n', 'abc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^tail-logs.sh: option -n needs a whole number of lines, got 'abc'/);
    expect(bad.stderr).not.toMatch(/ReplyError|at .*\.js/);
    const direct = await dan(['logs', '-n', 'abc', '--no-follow']);
    expect(direct.code).toBe(2);
    expect(direct.stderr).toMatch(/-n\/--lines must be a whole number/);
    await log('follow-task', 'main-0000000a', 'followed with -f');
    await network.redis.hset(network.keys.result('follow-task'), 'task_id', 'follow-task', 'status', 'completed');
    // A task that has ended ends the follow, so -f returns with the task's lines and status.
    const followed = await script('tail-logs.sh', ['-f', '-t', 'follow-task', '--source', 'redis']);
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout).toMatch(/followed with -f/);
    expect(followed.stdout).toMatch(/task follow-task: completed$/m);
  });

  it('[audit #83] shows the terminal escapes and bidi marks of a task\'s text written out, never raw', async () => {
    // The audit's description: clear the screen, paint red, retitle the terminal (OSC ... BEL), reverse the line.
    const hostile = 'api endpoint \u001b[2J\u001b[31mRED\u001b]0;PWNED-TITLE\u0007 \u202eesrever\u009b31m';
    const sent = await dan(['send', 'backend', hostile, '--type', 'echo']);
    expect(sent.code, sent.stderr).toBe(0);
    const taskId = sent.stdout.trim();
    await network.waitFor(taskId);
    const run = await dan(['logs', '--task', taskId, '--no-follow', '--source', 'redis']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('\\x1b[2J\\x1b[31mRED\\x1b]0;PWNED-TITLE\\x07 \\u202eesrever\\x9b31m');
    for (const raw of ['\u001b', '\u0007', '\u009b', '\u202e']) expect(run.stdout).not.toContain(raw);
    expect(run.stdout.trim().split('\n').at(-1)).toBe(`task ${taskId}: completed`);
  });
});
