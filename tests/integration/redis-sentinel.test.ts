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
import { SENTINEL_MASTER_NAME, startSentinelRedis, type SentinelRedis } from '../../src/bench/sentinel-cluster.js';
import { until } from '../support/until.js';

/**
 * A network on a Redis that fails over: master, two replicas and three Sentinels as real processes,
 * main and its domain agents (child processes, given the `agent` user's Sentinel URL in the
 * environment main generates for them) connected through `redis+sentinel://` URLs. The master is
 * SIGKILLed while tasks flow; the network must follow the promoted replica and end every task it
 * still knows of. What asynchronous replication lost is counted and reported.
 */

const bin = path.join(packageRoot(), 'dist/bundle/cli.mjs');
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
  it('with a replica wait (DAN_REDIS_WAIT_REPLICAS), a submit returns only once every replica holds the task', async () => {
    const replicas = await cluster.onlineReplicas();
    expect(replicas.length).toBeGreaterThan(0);
    // A wait long enough never to pass on a busy machine: the submit returns when the replicas confirm.
    const waiting = await connectRedis(cluster.mainUrl, { name: 'test-wait', waitReplicas: { replicas: replicas.length, timeoutMs: 600_000 } });
    try {
      const { taskId } = await submitTask(waiting, network.keys, { domain: 'backend', type: 'echo', description: 'replicated' });
      for (const port of replicas) expect(await (await cluster.admin(port)).hget(network.keys.result(taskId), 'task_id'), `replica ${port}`).toBe(taskId);
      expect((await network.waitFor(taskId))['status']).toBe('completed');
    } finally {
      waiting.disconnect();
    }
  }, 120_000);

  it('follows a failover while tasks flow: every task still known ends, and what was lost is counted', async () => {
    const { redis, keys } = network;
    const sent: string[] = [];
    // A submit the client saw fail: after a reconnect ioredis sends an unanswered command again, so a
    // submit that reached the old master may be refused as "already used" by the new one.
    const refused = new Map<string, string>();
    let flowing = true;
    // Submits begun so far; `sent` gets each one once it returned, so one in flight is counted here only.
    let begun = 0;
    const flow = (async () => {
      for (let i = 0; flowing; i++) {
        const taskId = `failover-${i}`;
        begun = i + 1;
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
    // A submit begun before the promotion was seen may have gone to the master that died (the flow
    // waits on it through the whole failover): it belongs to the tail a failover can lose.
    const sentBeforePromotion = begun;
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
    const clients = await (await cluster.admin(await cluster.masterPort())).call('CLIENT', 'LIST') as string;
    expect(clients).toMatch(/ user=agent /);
    expect(clients).toMatch(/ user=main /);
  }, 300_000);

  it('with a replica wait, loses no acknowledged submit when the master dies ahead of its lagging replicas, and says when too few are left', async () => {
    const { keys } = network;
    // Every replica must confirm, and they all pause below; the wait is longer than the pause, so a
    // submit waits for them rather than giving up.
    const replicas = await cluster.onlineReplicas();
    const waiting = await connectRedis(cluster.mainUrl, { name: 'test-wait', waitReplicas: { replicas: replicas.length, timeoutMs: 2_000 } });
    const acknowledged: string[] = [];
    const refused: string[] = [];
    let flowing = true;
    // Five clients, each a submit every 100 ms or so: enough in flight at the kill, few enough for one domain to finish soon after.
    const loops = Array.from({ length: 5 }, async (_, loop) => {
      for (let i = 0; flowing; i++) {
        try {
          acknowledged.push((await submitTask(waiting, keys, { domain: 'backend', type: 'echo', description: `waited ${loop}-${i}` })).taskId);
        } catch (error) {
          refused.push((error as DanError).code ?? (error as Error).message);
        }
        await sleep(100);
      }
    });
    try {
      await until('twenty acknowledged submits', async () => acknowledged.length >= 20, 60_000);
      const replicaPids = replicas.map((port) => cluster.pid(port));
      // The replicas stop reading their master's stream: what the master acknowledges now is on it alone.
      for (const pid of replicaPids) process.kill(pid, 'SIGSTOP');
      const acknowledgedAtPause = acknowledged.length;
      await sleep(300);
      const killedPort = await cluster.killMaster();
      for (const pid of replicaPids) process.kill(pid, 'SIGCONT');
      await until('the Sentinels to promote a replica', async () => (await cluster.masterPort()) !== killedPort, 60_000);
      flowing = false;
      await Promise.all(loops);
      await until('every acknowledged task to end', async () => {
        const all = await outcomes(acknowledged);
        return [...all.values()].every((o) => o === 'lost' || o['status'] === 'completed' || o['status'] === 'failed');
      }, 180_000).catch(async (error: Error) => {
        const open = [...(await outcomes(acknowledged))].filter(([, o]) => o !== 'lost' && o['status'] !== 'completed' && o['status'] !== 'failed');
        throw new Error(`${error.message}: ${open.length} still open, such as ${JSON.stringify(open.slice(0, 2))}`);
      });
      const failed = [...(await outcomes(acknowledged))].filter(([, o]) => o !== 'lost' && o['status'] === 'failed');
      expect(failed, 'echo tasks that failed').toEqual([]);
      const lost = [...(await outcomes(acknowledged))].filter(([, o]) => o === 'lost').map(([id]) => id);
      console.log(`sentinel failover with WAIT 1: ${acknowledged.length} acknowledged (${acknowledged.length - acknowledgedAtPause} after the replica paused), ${lost.length} lost, ${refused.length} refused (${[...new Set(refused)].join(', ')})`);
      expect(lost).toEqual([]);
      // The promoted replica left the replicas, so fewer are left than the wait asks for: a submit now says so.
      const short = await submitTask(waiting, keys, { domain: 'backend', type: 'echo', description: 'a replica short' }).then(() => undefined, (e: unknown) => e);
      expect((short as DanError).code).toBe('redis_not_replicated');
      expect((short as DanError).message).toMatch(new RegExp(`only \\d+ of the ${replicas.length} replicas DAN_REDIS_WAIT_REPLICAS asks for`));
    } finally {
      flowing = false;
      waiting.disconnect();
    }
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
