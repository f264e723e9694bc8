import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRules, type Rule } from '../../lib/llm/local-server/rules.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';
import { processGone } from '../support/run-process.js';
import { until } from '../support/until.js';

/**
 * An agent whose event loop no longer runs (a CPU-bound loop we missed; here a SIGSTOP, which stops
 * heartbeats the same way and ignores SIGTERM the same way) is swept by main, and its process is
 * killed: the audit (H2, H4) found swept agents left spinning at 100 % CPU until someone ran kill -9.
 */

// The first model call of the task waits a minute, so the task is surely in flight when its agent stops.
const slowOnce: Rule = {
  name: 'slow-wedge', when: { anyText: 'wedge', hasToolResult: false, tool: 'Glob' },
  reply: { tool_use: [{ name: 'Glob', input: { pattern: '**/*' } }], delay_ms: 60_000 }, times: 1,
};

describe('a domain agent that stops heartbeating while its process lives', () => {
  let network: TestNetwork;
  let stoppedPid: number | undefined;

  beforeAll(async () => {
    // Separate processes: the test stops one by pid.
    network = await startTestNetwork({ spawner: 'process', rules: parseRules([slowOnce], 'test').rules });
  }, 60_000);
  afterAll(async () => {
    // Ours to clean up if the network did not: the process this test stopped.
    if (stoppedPid !== undefined && !processGone(stoppedPid)) process.kill(stoppedPid, 'SIGKILL');
    await network?.stop();
  }, 60_000);

  it('is swept, killed (its pid is gone), and its task completes on a replacement', async () => {
    const { redis, keys } = network;
    const taskId = randomUUID();
    const task = { task_id: taskId, payload: { description: 'wedge: list the files' }, metadata: { timeout_seconds: 120 } };
    await redis.multi().lpush(keys.pending('backend'), JSON.stringify(task)).hset(keys.result(taskId), 'task_id', taskId, 'status', 'pending').exec();
    const agentId = await until('the task to run', async () => {
      const result = await redis.hgetall(keys.result(taskId));
      const workers = (await redis.smembers(keys.agentsWorkers())).filter((id) => id.startsWith(`${result['agent_id']}-`));
      return result['status'] === 'in_progress' && workers.length > 0 ? result['agent_id'] : undefined;
    });
    // Stopped only once its model call is out: that call takes the slow reply, and the replacement's does not.
    await until('the model call of attempt 1 to arrive', async () => network.model.requests.some((r) => JSON.stringify(r.body).includes('wedge')));
    const pid = Number(await redis.hget(keys.agentInfo(agentId), 'pid'));
    stoppedPid = pid;
    process.kill(pid, 'SIGSTOP');

    await until('main to sweep it', async () => network.events.find((e) => e.type === 'agent_swept' && e.agentId === agentId), 30_000);
    await until('its process to be gone', async () => processGone(pid), 30_000);
    const exit = network.events.find((e) => e.type === 'agent_exited' && e.agentId === agentId);
    expect(exit).toMatchObject({ signal: 'SIGKILL' });

    const result = await network.waitFor(taskId, 90_000);
    expect(result).toMatchObject({ status: 'completed', attempts: '2' });
    expect(result['agent_id']).not.toBe(agentId);
  }, 180_000);
});
