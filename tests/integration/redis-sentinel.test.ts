import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { DanError } from '../../lib/errors.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { cliEnv, startTestNetwork } from '../support/network.js';
import { uniquePrefix } from '../support/redis.js';
import { runProcess } from '../support/run-process.js';
import { SENTINEL_MASTER_NAME, startSentinelRedis, type SentinelRedis } from '../support/sentinel-redis.js';
import { until } from '../support/until.js';

/**
 * A network on a Redis that fails over: master, two replicas and three Sentinels as real processes,
 * main and its domain agents (child processes, given the `agent` user's Sentinel URL in the
 * environment main generates for them) connected through `redis+sentinel://` URLs. The master is
 * SIGKILLed while tasks flow; the network must follow the promoted replica and end every task it
 * still knows of. What asynchronous replication lost is counted and reported.
 */

const bin = path.join(packageRoot(), 'dist/src/cli/main.js');
let cluster: SentinelRedis;
let network: TestNetwork;

beforeAll(async () => {
  const prefix = uniquePrefix('sentinel');
  cluster = await startSentinelRedis(2, prefix);
  network = await startTestNetwork({ spawner: 'process', redis: { url: cluster.mainUrl, agentUrl: cluster.agentUrl, prefix } });
}, 120_000);
afterAll(async () => {
  await network?.stop();
  await cluster?.stop();
});

/** Each task's end on the Redis serving now: its status, or `lost` when that Redis has no record of it. */
async function outcomes(taskIds: string[]): Promise<Map<string, Record<string, string> | 'lost'>> {
  const { redis, keys } = network;
  const hashes = await Promise.all(taskIds.map((id) => redis.hgetall(keys.result(id))));
  return new Map(taskIds.map((id, i) => [id, Object.keys(hashes[i] ?? {}).length === 0 ? 'lost' : hashes[i]!]));
}

describe('Redis through Sentinel', () => {
  it('follows a failover while tasks flow: every task still known ends, and what was lost is counted', async () => {
    const { redis, keys } = network;
    const sent: string[] = [];
    // A submit the client saw fail: after a reconnect ioredis sends an unanswered command again, so a
    // submit that reached the old master may be refused as "already used" by the new one.
    const refused = new Map<string, string>();
    let flowing = true;
    const flow = (async () => {
      for (let i = 0; flowing; i++) {
        const taskId = `failover-${i}`;
        try {
          await submitTask(redis, keys, { taskId, domain: 'backend', type: 'echo', description: `echo ${i}` });
        } catch (error) {
          refused.set(taskId, (error as Error).message);
        }
        sent.push(taskId);
        await sleep(40);
      }
    })();
    const ended = async (ids: string[]) => [...(await outcomes(ids)).values()].filter((o) => o !== 'lost' && (o['status'] === 'completed' || o['status'] === 'failed')).length;
    await until('ten tasks to complete before the failover', async () => (await ended(sent)) >= 10, 60_000);

    const killedAt = Date.now();
    const killedPort = await cluster.killMaster();
    const sentBeforeKill = sent.length;
    await until('the Sentinels to promote a replica', async () => (await cluster.masterPort()) !== killedPort, 60_000);
    const sentBeforePromotion = sent.length;
    await until('ten tasks sent after the failover to complete', async () => (await ended(sent.slice(sentBeforeKill))) >= 10, 90_000);
    flowing = false;
    await flow;

    const firstAfter = (await outcomes(sent.slice(sentBeforeKill)));
    const completedAfterKill = [...firstAfter.values()].flatMap((o) => (o !== 'lost' && o['completed_at'] ? [Date.parse(o['completed_at'])] : []));
    // Every task the serving Redis knows of ends; none is left pending or in progress.
    await until('every known task to end', async () => {
      const all = await outcomes(sent);
      return [...all.values()].every((o) => o === 'lost' || o['status'] === 'completed' || o['status'] === 'failed');
    }, 90_000);
    const all = await outcomes(sent);
    const lost = [...all].filter(([, o]) => o === 'lost').map(([id]) => id);
    for (const [id, outcome] of all) {
      if (outcome === 'lost' || outcome['status'] === 'completed') continue;
      // A failed task says why with a failure code.
      expect(JSON.parse(outcome['output'] ?? '{}').code, `${id}: ${outcome['error'] ?? ''}`).toEqual(expect.any(String));
    }
    // Replication is asynchronous and in order: what a failover can lose is the tail of the old
    // master's writes its replicas had not yet received. So lost tasks are the last ones sent
    // before the kill, with no surviving task after them, and none sent after the promotion.
    const failedCount = [...all.values()].filter((o) => o !== 'lost' && o['status'] === 'failed').length;
    const lostAcknowledged = lost.filter((id) => !refused.has(id));
    const firstLost = Math.min(...lost.map((id) => sent.indexOf(id)));
    expect(sent.slice(firstLost, sentBeforeKill).filter((id) => all.get(id) !== 'lost'), 'tasks kept after a lost one').toEqual([]);
    expect(sent.slice(sentBeforePromotion).filter((id) => all.get(id) === 'lost'), 'tasks lost after the promotion').toEqual([]);
    const firstCompletion = Math.min(...completedAfterKill);
    console.log(`sentinel failover: ${sent.length} sent (${sentBeforeKill} before the kill), ${lostAcknowledged.length} acknowledged and lost, ${refused.size} refused on resend, ${failedCount} failed; first task completed ${firstCompletion - killedAt} ms after the master died`);
    // Agents kept their connections' users: the domain agent still runs as `agent` on the new master.
    const clients = await cluster.admin(await cluster.masterPort()).call('CLIENT', 'LIST') as string;
    expect(clients).toMatch(/ user=agent /);
    expect(clients).toMatch(/ user=main /);
  }, 300_000);

  it('answers a Sentinel that names no master with the fix, from connectRedis and from the CLI', async () => {
    const wrong = cluster.mainUrl.replace(`/${SENTINEL_MASTER_NAME}?`, '/nosuchmaster?');
    const error = await connectRedis(wrong, { failFast: true }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(DanError);
    expect((error as DanError).code).toBe('redis_no_master');
    expect((error as DanError).message).toMatch(/name no master 'nosuchmaster'.*sentinel monitor NAME host port quorum/);
    expect((error as DanError).message).not.toContain(cluster.passwords.main);
    const run = await runProcess(process.execPath, [bin, 'agents', '--json'], { env: cliEnv(network, { REDIS_URL: wrong }) });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/name no master 'nosuchmaster'/);
    expect(run.stderr).not.toContain(cluster.passwords.main);
  });
});
