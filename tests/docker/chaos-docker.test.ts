import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import type { ChaosReport, ChaosRunReport } from '../../src/chaos/chaos-report.js';
import { describeDocker, runCommand, testAgentImage } from '../support/docker.js';
import { runProcess } from '../support/run-process.js';

const chaosBin = path.join(packageRoot(), 'dist/src/chaos/chaos.js');

describeDocker('npm run chaos, quick form, Docker spawner', () => {
  beforeAll(async () => {
    const inspect = await runCommand('docker', ['image', 'inspect', testAgentImage()]);
    if (inspect.code !== 0) throw new Error(`the agent image ${testAgentImage()} is missing: run scripts/build-local-images.sh`);
  });

  it('ends every task exactly once, dead-letters every malformed message and leaves no container behind while containers are killed and Redis restarts', async () => {
    const run = await runProcess(process.execPath, [chaosBin, '--quick', '--spawner', 'docker', '--seed', '4243', '--json'], {
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], NO_COLOR: '1', DAN_AGENT_IMAGE: testAgentImage(), ...(process.env['DOCKER_HOST'] ? { DOCKER_HOST: process.env['DOCKER_HOST'] } : {}) },
      timeoutMs: 420_000,
    });
    let report: ChaosReport;
    try {
      report = JSON.parse(run.stdout) as ChaosReport;
    } catch {
      throw new Error(`chaos printed no JSON (exit ${run.code}); stderr:\n${run.stderr.slice(-4000)}`);
    }
    expect(report.runs['process']).toBeUndefined();
    const docker = report.runs['docker'] as ChaosRunReport;
    expect(docker, run.stderr.slice(-4000)).toHaveProperty('checks');
    const why = JSON.stringify(docker.details, null, 1).slice(0, 6000);

    expect(docker.kills).toBeGreaterThanOrEqual(2);
    expect(docker.recovery_samples, why).toBeGreaterThan(0);
    expect(docker.redis_down_ms).not.toBeNull();
    expect(docker.lost, why).toBe(0);
    expect(docker.duplicate_completions, why).toBe(0);
    expect(docker.stuck, why).toBe(0);
    expect(docker.tasks.completed + docker.tasks.failed).toBe(docker.tasks.with_subtasks);
    expect(docker.details.missing_dead_letters, why).toEqual([]);
    expect(docker.dead_lettered).toBe(docker.malformed);
    expect(docker.leaked, why).toBe(0);
    expect(run.code).toBe(report.passed ? 0 : 1);
  }, 450_000);
});
