import { statSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { freePort } from '../../src/cli/local-redis.js';
import { LABELS } from '../../lib/spawner/docker-spawner.js';
import { composeRedisPasswords } from '../support/compose-passwords.js';
import { describeDocker, execAsCommand, testAgentImage } from '../support/docker.js';
import { runProcess } from '../support/run-process.js';

const root = packageRoot();
const docker = new Docker();
const run = randomBytes(4).toString('hex');
const project = `dantestgw${run}`;
const networkId = `compose-gw-test-${run}`;
const passwords = composeRedisPasswords();
const password = passwords.REDIS_PASSWORD;
const composeToken = `compose-${randomBytes(24).toString('hex')}`;
let env: NodeJS.ProcessEnv = {};
let redisPort = 0;

/** docker-compose (v1 here) on the package's compose file with the host-network override and the backend profile. */
const compose = (args: string[], timeoutMs = 180_000) =>
  runProcess('docker-compose', ['-p', project, '-f', 'docker-compose.yml', '-f', 'docker-compose.host.yml', '--profile', 'backend', ...args], { cwd: root, env, timeoutMs });
const dan = (args: string[]) => runProcess(process.execPath, [path.join(root, 'dist/bundle/cli.mjs'), ...args, '-r', `redis://:${password}@127.0.0.1:${redisPort}`], { timeoutMs: 150_000 });

afterAll(async () => {
  if (redisPort === 0) return;
  await compose(['down', '-v', '--remove-orphans', '-t', '5']).catch(() => undefined);
  for (const info of await docker.listContainers({ all: true, filters: { label: [`${LABELS.network}=${networkId}`] } })) {
    await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
  }
});

describeDocker("compose's always-on backend domain and the model gateway", () => {
  it('completes a model task in the always-on backend through the gateway with DAN_GATEWAY_COMPOSE_TOKEN [audit #65]', async () => {
    redisPort = await freePort();
    env = {
      PATH: process.env['PATH'], HOME: process.env['HOME'],
      REDIS_IMAGE: process.env['DAN_REDIS_IMAGE'] || 'dan/redis:local', DAN_AGENT_IMAGE: testAgentImage(),
      REDIS_PORT: String(redisPort), API_PORT: String(await freePort()), ...passwords, DAN_LOCAL_LLM_PORT: String(await freePort()), DAN_GATEWAY_PORT: String(await freePort()),
      DOCKER_GID: String(statSync('/var/run/docker.sock').gid), DAN_NETWORK_ID: networkId, DAN_GATEWAY_COMPOSE_TOKEN: composeToken,
      DAN_NETWORK: `${project}-net`, DAN_WORKSPACE_VOLUME: `${project}-workspace`, DAN_ELF_VOLUME: `${project}-elf`,
    };
    const up = await compose(['up', '-d', '--no-build']);
    expect(up.code, up.stderr).toBe(0);

    const sent = await dan(['send', 'backend', 'Add a POST /api/users endpoint that registers a user', '--wait', '-t', '120']);
    expect(sent.code, `${sent.stdout}\n${sent.stderr}`).toBe(0);
    expect(sent.stdout).toMatch(/completed \(backend\)/);

    // The compose backend did it (main adopted it rather than starting one), holding only its token.
    const [backend] = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${project}`, `${LABELS.domain}=backend`] } });
    expect(backend?.State).toBe('running');
    const envOf = (await docker.getContainer(backend!.Id).inspect()).Config.Env;
    expect(envOf).toContain(`ANTHROPIC_API_KEY=${composeToken}`);
    expect(envOf.filter((line) => line.startsWith('DAN_LLM_URL='))).toEqual([]);
    // Its agent switched from root to DAN_RUN_AS at start, so a command as uid 1000 reads neither the
    // token nor the Redis password from any process's environment (audit row 18).
    const seen = await execAsCommand(backend!.Id, "for p in /proc/[0-9]*; do cat $p/environ 2>/dev/null; done | tr '\\0' '\\n'; cat /proc/1/environ");
    expect(seen).toContain('TMPDIR=/tmp');
    expect(seen).toContain('Permission denied');
    expect(seen).not.toContain(composeToken);
    expect(seen).not.toContain(password);
    expect(seen).not.toContain(passwords.REDIS_AGENT_PASSWORD);
    const listed = await dan(['gateway', '--json']);
    expect((JSON.parse(listed.stdout) as Array<{ agent_id: string }>).map((r) => r.agent_id)).toContain('compose-domains');
    expect(listed.stdout).not.toContain(composeToken);
  }, 300_000);
});
