import { packageRoot } from '../../lib/config.js';
import { expect, it } from 'vitest';
import { describeDocker } from '../support/docker.js';
import { runProcess } from '../support/run-process.js';

/** The main orchestrator's model settings as `docker-compose config` resolves them from the package's compose file. */
async function mainModelSettings(extra: Record<string, string> = {}): Promise<string[]> {
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], REDIS_PASSWORD: 'pw', ...extra };
  const run = await runProcess('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: packageRoot(), env, timeoutMs: 60_000 });
  expect(run.code, run.stderr).toBe(0);
  const main = run.stdout.slice(run.stdout.indexOf('  main-orchestrator:'));
  return main.split('\n').map((line) => line.trim()).filter((line) => /^DAN_(LOCAL_LLM|GATEWAY)_(LISTEN|ADVERTISE)/.test(line));
}

describeDocker('the model servers compose runs in the main orchestrator', () => {
  it('gives domain containers the gateway, and keeps the scripted model server to main with DAN_LOCAL_LLM_BIND=127.0.0.1', async () => {
    expect(await mainModelSettings({ DAN_LOCAL_LLM_BIND: '127.0.0.1' })).toEqual(expect.arrayContaining([
      'DAN_GATEWAY_LISTEN: 0.0.0.0:4011',
      'DAN_GATEWAY_ADVERTISE: http://main-orchestrator:4011',
      'DAN_LOCAL_LLM_LISTEN: 127.0.0.1:4010',
    ]));
  });

  // not held yet: by default the scripted model server (no auth: prompts readable on /_dan/requests)
  // listens on 0.0.0.0 of dan-network, because the always-on domains of `--profile domains` call it
  // directly; holding it needs tokens for domains compose starts itself, so they go through the gateway.
  it.skip('[audit #65] by default compose keeps the scripted model server to the main orchestrator\'s container', async () => {
    expect(await mainModelSettings()).toContain('DAN_LOCAL_LLM_LISTEN: 127.0.0.1:4010');
  });
});
