import Docker from 'dockerode';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Keys } from '../../lib/redis/keys.js';
import { connectTestRedis, testRedisUrl, uniquePrefix } from '../support/redis.js';
import { describeDocker, runCommand, testAgentImage } from '../support/docker.js';
import { until } from '../support/until.js';

const docker = new Docker();
const prefix = uniquePrefix('img');
const keys = new Keys(prefix);
let redis: Redis;
let cleanup: () => Promise<void>;

beforeAll(async () => { ({ redis, cleanup } = await connectTestRedis(prefix)); });
afterAll(async () => { await cleanup(); });

describeDocker('the agent image', () => {
  it('runs the agent as non-root under tini, turns healthy on its heartbeat, and exits 0 deregistered on docker stop', async () => {
    const agentId = `backend-${prefix.replace(/[^0-9a-f]/g, '').slice(-8).padStart(8, '0')}`;
    const container = await docker.createContainer({
      Image: testAgentImage(), name: `dan-image-test-${agentId}`,
      Env: ['AGENT_ROLE=domain', 'DOMAIN_TYPE=backend', `AGENT_ID=${agentId}`, `REDIS_URL=${testRedisUrl()}`, `DAN_KEY_PREFIX=${prefix}`, 'DAN_LOG_LEVEL=warn'],
      // The image's own health check, checked every 300 ms instead of every 15 s.
      Healthcheck: { Interval: 300_000_000, StartPeriod: 0, Retries: 3, Timeout: 5_000_000_000 },
      HostConfig: { NetworkMode: 'host', ReadonlyRootfs: true, Tmpfs: { '/tmp': 'rw' }, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'] },
    });
    try {
      await container.start();
      await until('the first heartbeat', async () => (await redis.exists(keys.heartbeat(agentId))) === 1);
      const image = await docker.getImage(testAgentImage()).inspect();
      expect(image.Config.User).toMatch(/^1000(:1000)?$/);
      expect(image.Config.Healthcheck?.Test?.join(' ')).toContain('healthcheck.mjs');
      const top = await container.top({ ps_args: '-o pid,user,args' });
      const processes = (top.Processes as string[][]).map((p) => p.join(' '));
      expect(processes[0]).toMatch(/tini/);
      expect(processes.some((p: string) => /node .*agent\.mjs/.test(p))).toBe(true);
      await until('a healthy health check', async () => (await container.inspect()).State.Health?.Status === 'healthy');

      await container.stop({ t: 10 });
      const state = (await container.inspect()).State;
      expect(state.ExitCode).toBe(0);
      expect(await redis.sismember(keys.agentsAll(), agentId)).toBe(0);
      expect(await redis.exists(keys.agentInfo(agentId))).toBe(0);
    } finally {
      await container.remove({ force: true }).catch(() => undefined);
    }
  });

  it('refuses to run a domain agent as root in a container without DAN_RUN_AS, naming the setting, before it connects anywhere', async () => {
    const run = await runCommand('docker', [
      'run', '--rm', '--label', 'distributed-agent-network.test=agent-image', '--user', '0:0', '--network', 'none',
      '-e', 'AGENT_ROLE=domain', '-e', 'DOMAIN_TYPE=backend', '-e', 'REDIS_URL=redis://127.0.0.1:1', testAgentImage(),
    ], { timeoutMs: 60_000 });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('runs as root in a container');
    expect(run.stderr).toContain('DAN_RUN_AS=1000:1000');
  });
});
