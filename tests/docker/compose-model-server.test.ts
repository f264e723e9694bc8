import { packageRoot } from '../../lib/config.js';
import { expect, it } from 'vitest';
import { composeRedisPasswords } from '../support/compose-passwords.js';
import { describeDocker } from '../support/docker.js';
import { runProcess } from '../support/run-process.js';

const COMPOSE_TOKEN = `compose-${'c3'.repeat(24)}`;

/** `docker-compose config` of the package's compose file, with the always-on domains' profile. */
async function composeConfig(extra: Record<string, string>): Promise<string> {
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], ...composeRedisPasswords(), DOCKER_GID: '999', DAN_GATEWAY_COMPOSE_TOKEN: COMPOSE_TOKEN, ...extra };
  const run = await runProcess('docker-compose', ['-f', 'docker-compose.yml', '--profile', 'domains', 'config'], { cwd: packageRoot(), env, timeoutMs: 60_000 });
  expect(run.code, run.stderr).toBe(0);
  return run.stdout;
}

/** One service's environment lines (`NAME: value`) in `docker-compose config` output. */
function serviceEnv(config: string, service: string): string[] {
  const start = config.indexOf(`\n  ${service}:\n`);
  const end = config.slice(start + 1).search(/\n {2}[a-z-]+:\n/);
  const block = config.slice(start, end < 0 ? undefined : start + 1 + end);
  const env = block.slice(block.indexOf('    environment:'));
  return env.split('\n').slice(1).filter((line) => line.startsWith('      ') && !line.startsWith('        ')).map((line) => line.trim());
}

/** The main orchestrator's model settings as `docker-compose config` resolves them from the package's compose file. */
async function mainModelSettings(extra: Record<string, string> = {}): Promise<string[]> {
  return serviceEnv(await composeConfig(extra), 'main-orchestrator').filter((line) => /^DAN_(LOCAL_LLM|GATEWAY)_(LISTEN|ADVERTISE)/.test(line));
}

describeDocker('the model servers compose runs in the main orchestrator', () => {
  it('gives domain containers the gateway, and keeps the scripted model server to main with DAN_LOCAL_LLM_BIND=127.0.0.1', async () => {
    expect(await mainModelSettings({ DAN_LOCAL_LLM_BIND: '127.0.0.1' })).toEqual(expect.arrayContaining([
      'DAN_GATEWAY_LISTEN: 0.0.0.0:4011',
      'DAN_GATEWAY_ADVERTISE: http://main-orchestrator:4011',
      'DAN_LOCAL_LLM_LISTEN: 127.0.0.1:4010',
    ]));
  });

  // The always-on domains of `--profile domains` go through the gateway with DAN_GATEWAY_COMPOSE_TOKEN,
  // so nothing but the gateway needs the scripted model server (no auth: prompts readable on /_dan/requests).
  it('[audit #65] by default compose keeps the scripted model server to the main orchestrator\'s container', async () => {
    expect(await mainModelSettings()).toContain('DAN_LOCAL_LLM_LISTEN: 127.0.0.1:4010');
  });

  it('gives the always-on domains the gateway and their token, never the key or the model server\'s address', async () => {
    const config = await composeConfig({ ANTHROPIC_API_KEY: 'sk-ant-api03-compose-test-key' });
    expect(serviceEnv(config, 'main-orchestrator')).toEqual(expect.arrayContaining([
      'ANTHROPIC_API_KEY: sk-ant-api03-compose-test-key', `DAN_GATEWAY_COMPOSE_TOKEN: ${COMPOSE_TOKEN}`,
    ]));
    for (const domain of ['backend', 'frontend', 'devops']) {
      const env = serviceEnv(config, domain);
      expect(env, domain).toEqual(expect.arrayContaining([
        'DAN_LLM: anthropic', 'ANTHROPIC_BASE_URL: http://main-orchestrator:4011', `ANTHROPIC_API_KEY: ${COMPOSE_TOKEN}`,
      ]));
      expect(env.filter((line) => line.includes('sk-ant-') || line.startsWith('DAN_LLM_URL') || line.includes(':4010')), domain).toEqual([]);
    }
  });

  it('refuses to start without DAN_GATEWAY_COMPOSE_TOKEN, naming how to make one', async () => {
    const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], ...composeRedisPasswords(), DOCKER_GID: '999' };
    const run = await runProcess('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: packageRoot(), env, timeoutMs: 60_000 });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('set DAN_GATEWAY_COMPOSE_TOKEN in .env');
  });
});
