import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { freePort } from '../../src/cli/local-redis.js';
import { LABELS } from '../../lib/spawner/docker-spawner.js';
import { urlForRole } from '../../lib/redis/acl.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { composeRedisPasswords } from '../support/compose-passwords.js';
import { describeDocker, testAgentImage } from '../support/docker.js';
import { runProcess } from '../support/run-process.js';
import { until } from '../support/until.js';

const root = packageRoot();
const docker = new Docker();
const run = randomBytes(4).toString('hex');
const project = `dantest${run}`;
const networkId = `compose-test-${run}`;
const passwords = composeRedisPasswords();
let env: NodeJS.ProcessEnv = {};
let redisPort = 0;

/** docker-compose (v1 here) on the package's compose file with the host-network override. */
const compose = (args: string[], timeoutMs = 180_000) =>
  runProcess('docker-compose', ['-p', project, '-f', 'docker-compose.yml', '-f', 'docker-compose.host.yml', ...args], { cwd: root, env, timeoutMs });
// In a folder with the network's .env and no REDIS_URL, as its operator would: `dan` reads the .env
// and connects as the user of each command (`client` for send and agents).
const envDir = mkdtempSync(path.join(os.tmpdir(), 'dan-compose-env-'));
const dan = (args: string[]) => runProcess(process.execPath, [path.join(root, 'dist/bundle/cli.mjs'), ...args], { cwd: envDir, env: { PATH: process.env['PATH'], HOME: process.env['HOME'] }, timeoutMs: 150_000 });

afterAll(async () => {
  rmSync(envDir, { recursive: true, force: true });
  if (redisPort === 0) return;
  await compose(['--profile', 'debug', '--profile', 'domains', 'down', '-v', '--remove-orphans', '-t', '5']).catch(() => undefined);
  for (const info of await docker.listContainers({ all: true, filters: { label: [`${LABELS.network}=${networkId}`] } })) {
    await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
  }
});

describeDocker('docker-compose with the local images', () => {
  it('brings the network up, completes a routed task in domain containers, and down leaves nothing behind', async () => {
    redisPort = await freePort();
    env = {
      PATH: process.env['PATH'], HOME: process.env['HOME'],
      REDIS_IMAGE: process.env['DAN_REDIS_IMAGE'] || 'dan/redis:local', DAN_AGENT_IMAGE: testAgentImage(),
      REDIS_PORT: String(redisPort), API_PORT: String(await freePort()), ...passwords, DAN_LOCAL_LLM_PORT: String(await freePort()), DAN_GATEWAY_PORT: String(await freePort()),
      DOCKER_GID: String(statSync('/var/run/docker.sock').gid), DAN_NETWORK_ID: networkId, DAN_GATEWAY_COMPOSE_TOKEN: `compose-token-${run}`.padEnd(40, '0'),
      DAN_NETWORK: `${project}-net`, DAN_WORKSPACE_VOLUME: `${project}-workspace`, DAN_ELF_VOLUME: `${project}-elf`,
    };
    writeFileSync(path.join(envDir, '.env'), `${Object.entries(passwords).map(([name, value]) => `${name}=${value}`).join('\n')}\nREDIS_PORT=${redisPort}\n`, { mode: 0o600 });
    const up = await compose(['up', '-d', '--no-build']);
    expect(up.code, up.stderr).toBe(0);

    const sent = await dan(['send', 'main', 'Add user registration: a POST /api/users endpoint and a signup form', '--wait', '-t', '120']);
    expect(sent.code, `${sent.stdout}\n${sent.stderr}`).toBe(0);
    expect(sent.stdout).toMatch(/completed \(main\)/);
    expect(sent.stdout).toMatch(/domains: backend, frontend/);

    // The main orchestrator ran in its container and started the two domains as containers.
    const [mainContainer] = await docker.listContainers({ filters: { label: [`com.docker.compose.project=${project}`, `${LABELS.role}=main`] } });
    expect(mainContainer?.State).toBe('running');
    const domains = await docker.listContainers({ filters: { label: [`${LABELS.network}=${networkId}`, `${LABELS.managed}=true`] } });
    // The two domains of the task, and the ELF memory, which main keeps running.
    expect(domains.map((c) => c.Labels[LABELS.domain]).sort()).toEqual(['backend', 'elf', 'frontend']);
    for (const c of domains) expect(c.Names[0]).toMatch(/^\/domain-(backend|elf|frontend)-[0-9a-f]{8}$/);
    const agents = await dan(['agents', '--json']);
    expect(agents.code).toBe(0);
    expect(agents.stdout).toContain('"role": "main"');

    // The `api` service, as README's curl examples use it: a key made inside its container, the seed's
    // echo body sent over HTTP, and the job read back until the network finished it.
    const made = await compose(['exec', '-T', 'api', 'node', '/app/dist/bundle/cli.mjs', 'keys', 'create', '--client', 'acme', '--role', 'submit', '--json']);
    expect(made.code, made.stderr).toBe(0);
    const { key } = JSON.parse(made.stdout) as { key: string };
    const apiUrl = `http://127.0.0.1:${env['API_PORT'] as string}`;
    expect((await fetch(`${apiUrl}/jobs`)).status).toBe(401);
    const posted = await fetch(`${apiUrl}/jobs`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ job_type: 'echo', payload: { hello: 'compose' } }),
    });
    expect(posted.status, await posted.clone().text()).toBe(202);
    const { id } = await posted.json() as { id: string };
    const job = await until('the echo job sent over HTTP to finish', async () => {
      const answer = await (await fetch(`${apiUrl}/jobs/${id}`, { headers: { 'x-api-key': key } })).json() as { status: string; client: string; output: { echo?: unknown } | null };
      return answer.status === 'SUCCEEDED' || answer.status === 'FAILED' ? answer : undefined;
    }, 120_000);
    expect(job.status).toBe('SUCCEEDED');
    expect(job.client).toBe('acme');
    expect(job.output?.echo).toMatchObject({ hello: 'compose' });

    // The domains main started connect as the `agent` user, whose password cannot touch the model
    // gateway's tokens (a hostile worker that reads it must not mint itself a token); main's can.
    for (const c of domains) {
      const envOf = (await docker.getContainer(c.Id).inspect()).Config.Env;
      expect(envOf.find((line) => line.startsWith('REDIS_URL=')), c.Names[0]).toMatch(/^REDIS_URL=redis:\/\/agent:/);
    }
    const tokens = new Keys('').gatewayTokens();
    const agent = await connectRedis(urlForRole(`redis://127.0.0.1:${redisPort}`, 'agent', passwords.REDIS_AGENT_PASSWORD), { failFast: true });
    const main = await connectRedis(urlForRole(`redis://127.0.0.1:${redisPort}`, 'main', passwords.REDIS_MAIN_PASSWORD), { failFast: true });
    try {
      expect(await agent.hset(tokens, 'forged', '{}').then(() => 'allowed', (error: Error) => error.message)).toMatch(/NOPERM/);
      expect(await main.hlen(tokens)).toBeGreaterThan(0);
    } finally {
      agent.disconnect();
      main.disconnect();
    }

    const down = await compose(['down', '-v', '-t', '20']);
    expect(down.code, down.stderr).toBe(0);
    expect(await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${project}`] } })).toEqual([]);
    // The main orchestrator stopped and removed the domain containers it had started.
    expect(await docker.listContainers({ all: true, filters: { label: [`${LABELS.network}=${networkId}`] } })).toEqual([]);
    expect((await docker.listNetworks()).map((n) => n.Name)).not.toContain(`${project}-net`);
    const volumes = (await docker.listVolumes()).Volumes?.map((v) => v.Name) ?? [];
    expect(volumes).not.toContain(`${project}-workspace`);
    expect(volumes).not.toContain(`${project}-elf`);
  }, 300_000);
});
