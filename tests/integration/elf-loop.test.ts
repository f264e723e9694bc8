import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { ElfClient } from '../../lib/elf/elf-client.js';
import type { Heuristic, Injection } from '../../lib/elf/elf-types.js';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { parseRules } from '../../lib/llm/local-server/rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';
import { until } from '../support/until.js';

let network: TestNetwork | undefined;
let subscriber: Redis | undefined;
let elf: ElfClient | undefined;

afterEach(async () => {
  elf?.close();
  subscriber?.disconnect();
  await network?.stop();
  network = undefined;
});

/** Waits for the ELF memory the main orchestrator keeps running, and returns a client for it. */
async function elfOf(net: TestNetwork): Promise<ElfClient> {
  subscriber = net.redis.duplicate();
  elf = new ElfClient(net.redis, subscriber, net.keys, 'elf-loop-test', 2_000);
  await until('the ELF memory to answer', async () => (await elf!.call('stats')) as object);
  return elf;
}

const lesson = 'Run the database migrations before seeding the users table';
const rules = [
  ...parseRules([
    // The first seeding attempt fails the way a missing table would: the work fails (a failing model API would teach nothing).
    { name: 'seed-fails', when: { anyText: 'Seed the users table for the demo', hasToolResult: false }, reply: { text: 'relation "users" does not exist: run the migrations first', stop_reason: 'refusal' }, times: 1 },
    // A later task's worker writes the lesson down with the tool ELF gives it.
    { name: 'write-lesson', when: { anyText: 'Write down the seeding lesson', hasToolResult: false }, reply: { tool_use: [{ name: 'elf_record_heuristic', input: { rule: lesson, context: 'seeding failed on a fresh database' } }] }, times: 1 },
  ], 'test').rules,
  ...defaultRules(),
];

describe('the ELF learning loop', () => {
  it('learns from a failure, injects the lessons a person approved into the next task of the domain, and credits them when that task completes', async () => {
    network = await startTestNetwork({ rules });
    const { redis, keys, model } = network;
    const memory = await elfOf(network);

    const failed = await submitTask(redis, keys, { domain: 'backend', description: 'Seed the users table for the demo' });
    const failedHash = await network.waitFor(failed.taskId);
    expect(failedHash['status']).toBe('failed');
    expect(failedHash['error']).toContain('relation "users" does not exist');

    // The failure is learned from the network's own event, and its postmortem proposes a lesson.
    const postmortem = await until('the postmortem lesson', async () => (await memory.call<Heuristic[]>('heuristics', { domain: 'backend' })).find((h) => h.source === 'postmortem'));
    expect(postmortem.rule).toContain('relation "users" does not exist');
    expect((await memory.call<{ outcomes: { byStatus: Record<string, number> } }>('stats')).outcomes.byStatus['failed']).toBe(1);

    const noted = await submitTask(redis, keys, { domain: 'backend', description: 'Write down the seeding lesson for the database' });
    expect((await network.waitFor(noted.taskId))['status']).toBe('completed');
    const recorded = await until('the lesson in memory', async () => (await memory.call<Heuristic[]>('heuristics', { domain: 'backend' })).find((h) => h.source === 'model'));
    expect(recorded).toMatchObject({ rule: lesson, confidence: 0.5, state: 'candidate' });
    // Proposed by a model and by a postmortem, the lessons reach prompts only once a person approves them.
    await memory.call('approve', { id: recorded.id });
    await memory.call('approve', { id: postmortem.id });

    model.clearRequests();
    const next = await submitTask(redis, keys, { domain: 'backend', description: 'Seed the users table with demo accounts' });
    const nextHash = await network.waitFor(next.taskId);
    expect(nextHash['status']).toBe('completed');
    const prompts = model.requests.map((r) => JSON.stringify((r.body as { messages?: unknown[] }).messages?.[0] ?? ''));
    const seeded = prompts.find((p) => p.includes('Seed the users table with demo accounts'));
    expect(seeded).toBeDefined();
    expect(seeded).toContain(lesson);
    // Quoted in the prompt as data ("relation \"users\" ..."), then escaped again by JSON.stringify above.
    expect(seeded).toContain('relation \\\\\\"users\\\\\\" does not exist');
    expect((await redis.lrange(keys.logs(next.taskId), 0, -1)).join('\n')).toMatch(/ELF: [12] heuristic\(s\) in \d+ tokens injected/);
    // The exact text injected is kept with the task.
    const [injected] = await memory.call<Injection[]>('injections', { task_id: next.taskId });
    expect(injected?.text).toContain(lesson);
    expect(seeded).toContain(JSON.stringify(injected!.text).slice(1, 60));

    // Completed: the lesson it was shown is validated once, by the formula.
    const validated = await until('the lesson to be credited', async () => {
      const h = (await memory.call<Heuristic[]>('heuristics', { domain: 'backend' })).find((x) => x.id === recorded.id);
      return h && h.validations === 1 ? h : undefined;
    });
    expect(validated.confidence).toBeCloseTo(0.5 + 0.1 * (1 - 0.5), 10);
  });

  it('injects nothing into a task that turns memory off', async () => {
    network = await startTestNetwork();
    const { redis, keys, model } = network;
    const memory = await elfOf(network);
    await memory.call('record_heuristic', { domain: 'backend', rule: 'Health endpoints answer with a JSON body' });
    const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'Create a health endpoint', context: { inject_elf_context: false } });
    expect((await network.waitFor(taskId))['status']).toBe('completed');
    expect(JSON.stringify(model.requests.map((r) => (r.body as { messages?: unknown }).messages))).not.toContain('JSON body');
    expect((await redis.lrange(keys.logs(taskId), 0, -1)).join('\n')).toContain('ELF: off for this task');
  });

  it('costs no task when ELF is killed mid-run, and learns what it missed when it is back', async () => {
    // A process of its own, to be killed by its pid.
    network = await startTestNetwork({ spawner: 'process', env: { DAN_ELF_TIMEOUT_MS: '500' } });
    const { redis, keys } = network;
    const memory = await elfOf(network);
    const [elfAgent] = await redis.smembers(keys.agentsOfDomain('elf'));
    process.kill(Number(await redis.hget(keys.agentInfo(elfAgent!), 'pid')), 'SIGKILL');

    const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'Create a health endpoint' });
    expect((await network.waitFor(taskId))['status']).toBe('completed');
    // The supervisor starts ELF again; it reads the event it missed from the stream.
    await until('the missed outcome to be learned', async () => {
      const found = await memory.call<{ outcomes: { outcome: { taskId: string } }[] }>('search', { text: 'health endpoint' });
      return found.outcomes.some((o) => o.outcome.taskId === taskId);
    }, 45_000);
    expect(network.events).toContainEqual(expect.objectContaining({ type: 'agent_exited', agentId: elfAgent, signal: 'SIGKILL' }));
  });

  it('refuses a corrupt database, naming the file, while the network keeps serving without memory', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-elf-corrupt-'));
    const file = path.join(dir, 'default.sqlite');
    writeFileSync(file, 'this is not an SQLite database, whatever its name says'.repeat(100));
    try {
      network = await startTestNetwork({ env: { DAN_ELF_DIR: dir, DAN_ELF_TIMEOUT_MS: '300' } });
      const { redis, keys } = network;
      const exited = await until('ELF to refuse to start', async () => network!.events.find((e) => e.type === 'agent_exited' && e.domain === 'elf'));
      const lines = await network.spawner.lastLines('agentId' in exited ? exited.agentId : '');
      expect(lines.join('\n')).toContain(file);
      const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'Create a health endpoint' });
      expect((await network.waitFor(taskId))['status']).toBe('completed');
      expect((await redis.lrange(keys.logs(taskId), 0, -1)).join('\n')).toMatch(/ELF: no context .*going on without memory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
