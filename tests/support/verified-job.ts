import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../lib/config.js';
import type { Rule } from '../../lib/llm/local-server/rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { clientWorkspaceRoot } from '../../lib/workspace/task-workspace.js';
import type { TestNetwork } from './network.js';
import { cliEnv, startTestNetwork } from './network.js';
import { runProcess } from './run-process.js';
import { SUM_CHECK, sumWorkerRules } from './sum-rules.js';

/** The lesson recorded in acme's memory before the jobs run, which its backend workers are given. */
export const SUM_LESSON = 'Sum functions add their arguments; a test proves it';

/** Main plans one backend step; the worker writes a broken sum.js and repairs it once the failed check comes back. */
const rules: Rule[] = [
  { name: 'one step', when: { system: 'dan-router' }, reply: { text: JSON.stringify({ steps: [{ domain: 'backend', description: 'plain: write sum.js', depends_on: [] }] }) } },
  ...sumWorkerRules,
  { name: 'done', when: { hasToolResult: true }, reply: { text: '{"summary": "wrote sum.js"}' } },
];

export interface VerifiedJobs {
  network: TestNetwork;
  /** A backend job of client acme in a git repository, verified by SUM_CHECK: fails round 1, passes round 2. */
  verified: string;
  /** A job of client acme sent to main, routed to one backend sub-task, in a folder that is not a git repository. */
  routed: string;
}

/**
 * Two jobs a real network ran to the end (the main orchestrator, a backend agent, the local model
 * server, real git, the ELF memory), for the views that read what a job left: its checks, diff,
 * lessons, timeline and history. `extraRules` are tried before the others (a worker that also writes
 * another file, say); `description` is the verified job's (it must start with "repairable").
 */
export async function runVerifiedJobs(options: { extraRules?: Rule[]; description?: string } = {}): Promise<VerifiedJobs> {
  const network = await startTestNetwork({ rules: [...(options.extraRules ?? []), ...rules], env: { DAN_WORKERS_PER_TASK: '1', DAN_VERIFY_ROUNDS: '2', DAN_ROUTER: 'llm' } });
  try {
    const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
    const recorded = await runProcess(process.execPath, [bin, 'elf', 'record', 'backend', SUM_LESSON, '--client', 'acme'], { env: cliEnv(network), timeoutMs: 60_000 });
    if (recorded.code !== 0) throw new Error(`dan elf record failed: ${recorded.stderr}`);
    // acme's tasks work in acme's own workspace folder; the task works on its own branch there, which is its diff.
    const acmeRoot = clientWorkspaceRoot(network.workspace, 'acme');
    const repo = path.join(acmeRoot, 'repo');
    mkdirSync(repo, { recursive: true });
    writeFileSync(path.join(repo, 'README.md'), 'sums\n');
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '-m', 'start');
    mkdirSync(path.join(acmeRoot, 'plain'), { recursive: true });
    const verified = (await submitTask(network.redis, network.keys, {
      domain: 'backend', description: options.description ?? 'repairable: add a sum function', type: 'task_assignment', source: 'test', requirements: [], priority: 'normal',
      context: { workspace: 'repo' }, extraMetadata: { client_id: 'acme', verify: [SUM_CHECK] },
    })).taskId;
    const routed = (await submitTask(network.redis, network.keys, {
      domain: 'main', description: 'add a sum function', type: 'task_assignment', source: 'test', requirements: [], priority: 'normal',
      context: { workspace: 'plain' }, extraMetadata: { client_id: 'acme' },
    })).taskId;
    for (const id of [verified, routed]) {
      const status = (await network.waitFor(id, 90_000))['status'];
      if (status !== 'completed') throw new Error(`job ${id} ended ${String(status)}, not completed`);
    }
    return { network, verified, routed };
  } catch (error) {
    await network.stop();
    throw error;
  }
}
