import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { poll, round } from './bench-kit.js';
import type { BenchEnv } from './bench-network.js';
import { startBenchNetwork } from './bench-network.js';

export interface RecoveryResult {
  /** From the SIGKILL to the task being claimed again (its second attempt in progress). */
  running_again_ms: number;
  /** From the SIGKILL to the task completed by its second attempt. */
  completed_ms: number;
}

/**
 * Scenario 9: a domain agent is SIGKILLed while its worker waits for the model; times how long until
 * another agent runs the task again, with the default settings. The model holds the first request
 * back (a rule used once), so the second attempt completes at once.
 */
export async function measureRecovery(env: BenchEnv): Promise<RecoveryResult> {
  env.model.setRules([{ name: 'bench-hang', when: { anyText: '(?i)recovery probe' }, reply: { text: 'late', delay_ms: 600_000 }, times: 1 }, ...defaultRules()]);
  const net = await startBenchNetwork(env, 'recovery');
  try {
    const taskId = 'recovery-probe';
    await submitTask(env.redis, net.keys, { taskId, domain: 'backend', description: 'recovery probe: create a health endpoint' });
    await poll('the probe task to reach the model', async () => (env.model.requests.some((r) => r.rule === 'bench-hang') ? true : undefined), 60_000, 20);
    const first = await env.redis.hget(net.keys.result(taskId), 'agent_id');
    const pid = Number(first ? await env.redis.hget(net.keys.agentInfo(first), 'pid') : Number.NaN);
    if (!(pid > 0)) throw new Error('bench: could not find the process of the agent running the probe task');
    process.kill(pid, 'SIGKILL');
    const killed = performance.now();
    await poll('the probe task to run again', async () => {
      const [status, attempts] = await env.redis.hmget(net.keys.result(taskId), 'status', 'attempts');
      return Number(attempts) >= 2 && (status === 'in_progress' || status === 'completed') ? true : undefined;
    }, 60_000, 5);
    const again = performance.now() - killed;
    await net.events.waitAll([taskId], 60_000);
    const end = net.events.finished.get(taskId);
    if (end?.status !== 'completed') throw new Error(`bench: the probe task ended ${end?.status ?? '?'} after its agent was killed`);
    return { running_again_ms: round(again), completed_ms: round(end.ms - killed) };
  } finally {
    env.model.setRules(defaultRules());
    await net.stop();
  }
}
