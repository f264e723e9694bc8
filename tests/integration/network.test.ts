import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { parseRules } from '../../lib/llm/local-server/rules.js';
import { getResult, submitTask, tailLogStream } from '../../lib/redis/task-store.js';
import { readMetricCounters } from '../../lib/redis/task-metrics.js';
import { taskTimeline } from '../../src/operations/task-timeline.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';
import { testRedisUrl } from '../support/redis.js';

let network: TestNetwork | undefined;
afterEach(async () => {
  await network?.stop();
  network = undefined;
});

/** Model rules: a worker whose task text contains `marker` first runs `command` through Bash, once. */
function slowRules(marker: string, command: string, times?: number) {
  const custom = parseRules([{ name: 'slow', when: { anyText: marker, hasToolResult: false, tool: 'Bash' }, reply: { tool_use: [{ name: 'Bash', input: { command } }] }, ...(times ? { times } : {}) }], 'test').rules;
  return [...custom.slice(0, 1), ...defaultRules()];
}

describe('the network on one machine', () => {
  it('routes a two-domain task backend-first, runs workers through the local model, and aggregates their files', async () => {
    network = await startTestNetwork();
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'main', description: 'Add user registration: a POST /api/users endpoint and a signup form' });
    const hash = await network.waitFor(taskId);
    expect(hash['status']).toBe('completed');
    const output = JSON.parse(hash['output']!);
    expect(output.domains_used).toEqual(['backend', 'frontend']);
    expect(output.files_created.length).toBeGreaterThanOrEqual(2);
    for (const file of output.files_created) expect(existsSync(path.join(network.workspace, file))).toBe(true);
    expect(output.children[`${taskId}-backend`].status).toBe('completed');
    expect(output.children[`${taskId}-frontend`].status).toBe('completed');

    const backend = await redis.hgetall(keys.result(`${taskId}-backend`));
    const frontend = await redis.hgetall(keys.result(`${taskId}-frontend`));
    expect(backend['parent_id']).toBe(taskId);
    expect(Date.parse(frontend['started_at']!)).toBeGreaterThanOrEqual(Date.parse(backend['completed_at']!));
    // The frontend worker was told what the backend did.
    const frontendCalls = network.model.requests.filter((r) => JSON.stringify(r.body).includes('Domain: frontend'));
    expect(frontendCalls.length).toBeGreaterThan(0);
    expect(JSON.stringify(frontendCalls[0]!.body)).toContain('Done before this task (by other domains)');
    // Stable prompt marked for caching.
    expect(JSON.stringify((frontendCalls[0]!.body as { system?: unknown }).system)).toContain('"cache_control"');
    const logs = await redis.lrange(keys.logs(taskId), 0, -1);
    expect(logs.join('\n')).toMatch(/routed \(score\): backend, frontend \(after backend\)/);
    expect(logs.every((line) => /^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] /.test(line))).toBe(true);
  });

  it('completes a task queued with raw redis-cli commands exactly as protocol.md says', async () => {
    network = await startTestNetwork();
    const { keys } = network;
    const raw = JSON.stringify({
      task_id: 'cli-raw-1', type: 'task_assignment', source: 'cli', destination: 'backend', timestamp: new Date().toISOString(),
      payload: { description: 'Create a health endpoint', requirements: ['GET /health'], context: {} },
      metadata: { priority: 'normal', timeout_seconds: 300 },
    }, null, 2);
    const cli = (...args: string[]) => execFileSync('redis-cli', ['-u', testRedisUrl(), ...args], { encoding: 'utf8' });
    cli('LPUSH', keys.pending('backend'), raw);
    cli('HSET', keys.result('cli-raw-1'), 'task_id', 'cli-raw-1', 'status', 'pending');
    cli('PUBLISH', keys.notifications('backend'), raw);
    const hash = await network.waitFor('cli-raw-1');
    expect(cli('HGET', keys.result('cli-raw-1'), 'status').trim()).toBe('completed');
    expect(typeof hash['output']).toBe('string');
    const output = JSON.parse(hash['output']!);
    expect(output.files_created.length).toBeGreaterThan(0);
    expect(output.files_modified).toEqual([]);
    expect(output.workers_used).toContain('api');
    expect(cli('LLEN', keys.active('backend')).trim()).toBe('0');
  });

  it('runs high before normal before low on a domain with one slot', async () => {
    network = await startTestNetwork({ env: { DAN_DOMAIN_CONCURRENCY: '1' } });
    const { redis, keys } = network;
    const tx = redis.multi();
    for (const [id, priority] of [['p-low', 'low'], ['p-normal', 'normal'], ['p-high', 'high']] as const) {
      tx.lpush(keys.pending('devops'), JSON.stringify({ task_id: id, type: 'echo', payload: { n: id }, metadata: { priority } }));
    }
    await tx.exec();
    const started: Record<string, number> = {};
    for (const id of ['p-low', 'p-normal', 'p-high']) {
      const hash = await network.waitFor(id);
      expect(hash['status']).toBe('completed');
      started[id] = Date.parse(hash['started_at']!);
    }
    expect(started['p-high']).toBeLessThanOrEqual(started['p-normal']!);
    expect(started['p-normal']).toBeLessThanOrEqual(started['p-low']!);
  });

  it('fails a task that runs past metadata.timeout_seconds, and the domain keeps serving', async () => {
    network = await startTestNetwork({ rules: slowRules('takes forever', 'sleep 30') });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'backend', description: 'An endpoint that takes forever to build', timeoutSeconds: 2 });
    const hash = await network.waitFor(taskId);
    expect(hash['status']).toBe('failed');
    expect(hash['error']).toBe('timed out after 2 s');
    expect(JSON.parse(hash['output']!).failure).toEqual({ code: 'timed_out', retryable: false });
    const next = await submitTask(redis, keys, { domain: 'backend', description: 'ping', type: 'echo' });
    expect((await network.waitFor(next.taskId))['status']).toBe('completed');
  });

  it('dead-letters malformed input with its reason while the domain keeps serving', async () => {
    network = await startTestNetwork();
    const { redis, keys } = network;
    await redis.lpush(keys.pending('frontend'), '{not json at all', '"a string"', '{"task_id": "no-desc", "payload": {}}');
    const { taskId } = await submitTask(redis, keys, { domain: 'frontend', description: 'ping', type: 'echo' });
    expect((await network.waitFor(taskId))['status']).toBe('completed');
    const dead = (await redis.lrange(keys.dead('frontend'), 0, -1)).map((s) => JSON.parse(s));
    expect(dead.map((d) => d.raw).sort()).toEqual(['"a string"', '{not json at all'].sort());
    const noDesc = await network.waitFor('no-desc');
    expect(noDesc['status']).toBe('failed');
    expect(noDesc['error']).toMatch(/payload\.description is required/);
  });

  it('dead-letters a raw push to a domain nobody serves, naming the known domains', async () => {
    network = await startTestNetwork();
    const { redis, keys } = network;
    await redis.lpush(keys.pending('marketing'), JSON.stringify({ task_id: 'unknown-1', payload: { description: 'write a slogan' } }));
    const hash = await network.waitFor('unknown-1');
    expect(hash['status']).toBe('failed');
    expect(hash['error']).toBe("dead-lettered: unknown domain 'marketing'; known domains: backend, devops, elf, farm, frontend");
    expect(JSON.parse((await redis.lindex(keys.dead('marketing'), 0))!).raw).toContain('write a slogan');
  });

  it('finishes the task of a domain process killed mid-task in a replacement process', async () => {
    // A process of its own, to be killed by its pid.
    network = await startTestNetwork({ spawner: 'process', rules: slowRules('survive a crash', 'sleep 5', 1) });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'devops', description: 'Dockerize the app so it can survive a crash' });
    let owner = '';
    for (let i = 0; i < 300 && !owner; i++) {
      owner = (await redis.hget(keys.result(taskId), 'agent_id')) ?? '';
      if (!owner) await new Promise((r) => setTimeout(r, 50));
    }
    const pid = Number(await redis.hget(keys.agentInfo(owner), 'pid'));
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    const hash = await network.waitFor(taskId);
    expect(hash['status']).toBe('completed');
    expect(hash['attempts']).toBe('2');
    expect(hash['agent_id']).not.toBe(owner);
    expect(network.events.some((e) => e.type === 'agent_exited' && e.agentId === owner && e.signal === 'SIGKILL')).toBe(true);
    expect((await redis.lrange(keys.logs(taskId), 0, -1)).join('\n')).toMatch(new RegExp(`attempt 1 ended: agent ${owner} exited \\(SIGKILL\\)`));
  });

  it('serves a domain that exists only as a folder under agents/', async () => {
    network = await startTestNetwork({
      prepareAgents: (dir) => {
        mkdirSync(path.join(dir, 'mobile', 'workers'), { recursive: true });
        writeFileSync(path.join(dir, 'mobile', 'domain.md'), '---\nname: mobile\ndescription: Native mobile apps for iOS and Android\nkeywords: [ios, android, mobile, screen, swift, kotlin]\n---\nYou run the mobile domain.\n');
        writeFileSync(path.join(dir, 'mobile', 'workers', 'ios.md'), '---\nname: ios\ndescription: iOS screens in SwiftUI\ntools: [Read, Write, Edit]\nmodel: sonnet\nkeywords: [ios, swift, screen]\ndefault: true\n---\nYou build iOS screens. Finish with the JSON summary.\n');
      },
    });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'main', description: 'Build an iOS screen for the profile' });
    const hash = await network.waitFor(taskId);
    expect(hash['status']).toBe('completed');
    const output = JSON.parse(hash['output']!);
    expect(output.domains_used).toEqual(['mobile']);
    expect(output.files_created.length).toBe(1);
    expect(await redis.hget(keys.result(`${taskId}-mobile`), 'domain')).toBe('mobile');
  });

  it('answers an echo sent to main through a domain, without any model call', async () => {
    network = await startTestNetwork();
    const { redis, keys } = network;
    await redis.lpush(keys.pending('main'), JSON.stringify({ task_id: 'echo-main', type: 'echo', payload: { message: 'Hello, World!' } }));
    const hash = await network.waitFor('echo-main');
    expect(hash['status']).toBe('completed');
    expect(JSON.parse(hash['output']!).echo).toEqual({ message: 'Hello, World!' });
    expect(network.model.requests.filter((r) => r.path.startsWith('/v1/messages'))).toEqual([]);
    // Main's lines are written by the sub-task's submit and the parent's finish: same text and order in
    // the task's log and in the log stream, each line once.
    const expected = [
      /\] main-\w+: claimed echo task \(attempt 1 /,
      /\] main-\w+: routed \(\w+\): backend; echo: sent whole to backend$/,
      /\] main-\w+: delegated to backend as echo-main-backend: echo$/,
      /\] main-\w+: backend completed$/,
      /\] main-\w+: completed in \d+ ms$/,
    ];
    const logs = await redis.lrange(keys.logs('echo-main'), 0, -1);
    expect(logs).toHaveLength(expected.length);
    logs.forEach((line, i) => expect(line).toMatch(expected[i]!));
    const streamed = (await tailLogStream(redis, keys, 1000)).filter((e) => e.taskId === 'echo-main');
    expect(streamed.map((e) => e.line)).toEqual(logs);
    expect(streamed.every((e) => e.domain === 'main' && logs[0]!.includes(`] ${e.agentId}: `))).toBe(true);
  });

  it('lets the model plan and pick workers with DAN_ROUTER=llm and DAN_WORKER_SELECTOR=llm', async () => {
    network = await startTestNetwork({ env: { DAN_ROUTER: 'llm', DAN_WORKER_SELECTOR: 'llm' } });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'main', description: 'Add user registration: a POST /api/users endpoint and a signup form' });
    const hash = await network.waitFor(taskId);
    expect(hash['status']).toBe('completed');
    const output = JSON.parse(hash['output']!);
    expect(output.plan.strategy).toBe('llm');
    expect(output.domains_used).toEqual(expect.arrayContaining(['backend', 'frontend']));
    const child = JSON.parse((await redis.hget(keys.result(`${taskId}-backend`), 'output'))!);
    expect(child.selection.strategy).toBe('llm');
    const bodies = network.model.requests.map((r) => JSON.stringify(r.body));
    expect(bodies.some((b) => b.includes('dan-router'))).toBe(true);
    expect(bodies.some((b) => b.includes('dan-worker-selector'))).toBe(true);
    // The router's model call is on the job's timeline, by main, beside the workers' calls.
    const { spans } = await taskTimeline(redis, keys, (await getResult(redis, keys, taskId))!);
    const planning = spans.filter((s) => s.kind === 'model_call' && s.task_id === taskId);
    expect(planning).toEqual([expect.objectContaining({ agent_id: expect.stringMatching(/^main-/), name: 'model call 1', status: 'ok' })]);
    expect(planning[0]?.duration_ms).toBeGreaterThanOrEqual(0);
    // Main's router calls go straight to the model, not through the gateway that counts the agents'
    // calls (the agents of this in-process network do not use it either): main counts them itself.
    const routerCalls = bodies.filter((b) => b.includes('dan-router')).length;
    const counted = (await readMetricCounters(redis, keys)).modelCalls;
    expect(counted.reduce((sum, c) => sum + c.count, 0)).toBe(routerCalls);
    expect(counted).toEqual([expect.objectContaining({ status: '200', count: routerCalls })]);
    // So is the domain's worker selection, by the domain agent (its id has no worker suffix).
    const backend = spans.filter((s) => s.kind === 'model_call' && s.task_id === `${taskId}-backend`);
    expect(backend.some((s) => /^backend-[0-9a-f]{8}$/.test(s.agent_id ?? ''))).toBe(true);
    expect(backend.some((s) => /^backend-[0-9a-f]{8}-.+/.test(s.agent_id ?? ''))).toBe(true);
  });

  it('registers running workers with role worker and removes them when they finish', async () => {
    network = await startTestNetwork({ rules: slowRules('keep it busy', 'sleep 2', 1) });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'devops', description: 'Add a CI pipeline to keep it busy' });
    let workers: string[] = [];
    for (let i = 0; i < 200 && workers.length === 0; i++) {
      workers = await redis.smembers(keys.agentsWorkers());
      if (workers.length === 0) await new Promise((r) => setTimeout(r, 25));
    }
    expect(workers).toHaveLength(1);
    const info = await redis.hgetall(keys.agentInfo(workers[0]!));
    expect(info).toMatchObject({ role: 'worker', domain_type: 'devops', task_id: taskId });
    expect(await redis.exists(keys.heartbeat(workers[0]!))).toBe(1);
    expect((await network.waitFor(taskId))['status']).toBe('completed');
    expect(await redis.smembers(keys.agentsWorkers())).toEqual([]);
  });

  it('fails the parent naming the failed sub-task, and does not start the sub-task that needed it', async () => {
    const failing = parseRules([
      { name: 'router-breaks', when: { system: 'dan-router' }, reply: { error: { status: 400, type: 'invalid_request_error', message: 'router refusal' } } },
      { name: 'backend-breaks', when: { system: 'Domain: backend' }, reply: { error: { status: 400, type: 'invalid_request_error', message: 'scripted refusal' } } },
    ], 'test').rules;
    // The router's call fails too: the plan falls back to the keyword router's, and the failed call is on the timeline.
    network = await startTestNetwork({ rules: [...failing, ...defaultRules()], env: { DAN_ROUTER: 'llm' } });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'main', description: 'Add user registration: a POST /api/users endpoint and a signup form' });
    const hash = await network.waitFor(taskId);
    expect(hash['status']).toBe('failed');
    expect(hash['error']).toMatch(new RegExp(`^sub-task ${taskId}-backend \\(backend\\) failed: worker \\w+ failed: .*scripted refusal`));
    const output = JSON.parse(hash['output']!);
    expect(output.children[`${taskId}-frontend`]).toMatchObject({ status: 'skipped', error: 'not started: backend did not complete' });
    // Why each failed, as data: the parent because of its sub-task, the sub-task because the model API refused its request.
    expect(output.failure).toEqual({ code: 'child_failed', retryable: false });
    const child = await redis.hgetall(keys.result(`${taskId}-backend`));
    expect(child['error']).toMatch(/scripted refusal/);
    expect(JSON.parse(child['output']!)).toMatchObject({ failure: { code: 'llm_bad_request', retryable: false } });
    expect(await redis.exists(keys.result(`${taskId}-frontend`))).toBe(0);
    // Both failed model calls are on the job's timeline with their duration and error: the router's by main, the worker's by its worker.
    const { spans } = await taskTimeline(redis, keys, (await getResult(redis, keys, taskId))!);
    const failed = spans.filter((s) => s.kind === 'model_call' && s.status === 'error');
    expect(failed.map((s) => [s.task_id, s.agent_id?.replace(/-[0-9a-f]{8}/, ''), s.error?.match(/router refusal|scripted refusal/)?.[0]])).toEqual([
      [taskId, 'main', 'router refusal'],
      [`${taskId}-backend`, expect.stringMatching(/^backend-[a-z-]+-\d+$/), 'scripted refusal'],
    ]);
    for (const s of failed) expect(s.duration_ms).toBeGreaterThanOrEqual(0);
  });

  it('stops an idle domain after DAN_DOMAIN_IDLE_MS and starts a new one when work comes', async () => {
    network = await startTestNetwork({ env: { DAN_DOMAIN_IDLE_MS: '300' } });
    const { redis, keys } = network;
    const first = await submitTask(redis, keys, { domain: 'backend', description: 'one', type: 'echo' });
    const firstAgent = (await network.waitFor(first.taskId))['agent_id']!;
    for (let i = 0; i < 200 && !network.events.some((e) => e.type === 'agent_exited' && e.agentId === firstAgent); i++) await new Promise((r) => setTimeout(r, 25));
    expect(network.events.find((e) => e.type === 'agent_exited' && e.agentId === firstAgent)).toMatchObject({ code: 0 });
    expect(await redis.sismember(keys.agentsAll(), firstAgent)).toBe(0);
    const second = await submitTask(redis, keys, { domain: 'backend', description: 'two', type: 'echo' });
    const hash = await network.waitFor(second.taskId);
    expect(hash['status']).toBe('completed');
    expect(hash['agent_id']).not.toBe(firstAgent);
  });

  it('starts a cold domain as soon as a task is announced on notifications:{domain}, not at the next tick', async () => {
    // A tick interval far beyond the test's timeout: only the announcement can start the domain in time.
    network = await startTestNetwork({ env: { DAN_SUPERVISE_INTERVAL_MS: '600000' } });
    const { redis, keys } = network;
    const { taskId } = await submitTask(redis, keys, { domain: 'devops', description: 'ping', type: 'echo' });
    expect((await network.waitFor(taskId, 20_000))['status']).toBe('completed');
  });
});
