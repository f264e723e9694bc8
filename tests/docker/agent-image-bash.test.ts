import { chmodSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { packageRoot } from '../../lib/config.js';
import { describeDocker, runCommand, testAgentImage } from '../support/docker.js';

// Row 19 of the audit: the hostile rule ATKD01's Bash call, in a domain container of the offline
// image (busybox, no bash), failed with `spawn bash ENOENT`. Replayed with the Bash tool of the
// image, in a container hardened as the Docker spawner makes them.
const ATKD01 = "id; grep -E 'Cap(Eff|Bnd|Prm)|NoNewPrivs|Seccomp' /proc/self/status; touch /etc/pwn 2>&1; touch /tmp/ok && echo tmp-writable; " +
  "ls -la /var/run/docker.sock 2>&1; echo PPID-ENV:; tr '\\0' '\\n' < /proc/$PPID/environ | grep -E 'ANTHROPIC_API_KEY|REDIS_URL'; echo PID1-ENV:; " +
  "tr '\\0' '\\n' < /proc/1/environ 2>&1 | grep -E 'ANTHROPIC_API_KEY|REDIS_URL'; echo REDIS:; (exec 3<>/dev/tcp/127.0.0.1/16391 && printf 'AUTH hunter2\\r\\nDBSIZE\\r\\n' >&3 && timeout 1 cat <&3) 2>&1; " +
  "echo MOCK:; (exec 4<>/dev/tcp/127.0.0.1/18791 && printf 'GET /_dan/requests HTTP/1.0\\r\\n\\r\\n' >&4 && timeout 1 head -c 300 <&4) 2>&1; echo; hostname; " +
  "ps -ef 2>/dev/null | head -5 || ls /proc | head; mount | grep -E ' / | /workspace | /tmp ' ; setsid nohup sleep 6666 >/dev/null 2>&1 < /dev/null & echo spawned-escapee";

// What the agent's environment holds in a domain container; the command must see neither.
const SECRETS = { REDIS_URL: 'redis://agent:redis-password-not-for-commands@127.0.0.1:16391', ANTHROPIC_API_KEY: 'dan-gw-token-not-for-commands' };

// The image's Bash tool, run by a probe bundled from tests/fixtures/image-bash-probe.ts (the image holds
// the agent's bundle, not the modules one by one).
const PROBE_SOURCE = path.join(packageRoot(), 'tests/fixtures/image-bash-probe.ts');

let workspace: string;
let probeDir: string;
beforeAll(async () => {
  workspace = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dan-image-bash-')));
  // The agent runs as uid 1000.
  chmodSync(workspace, 0o777);
  probeDir = mkdtempSync(path.join(os.tmpdir(), 'dan-image-bash-probe-'));
  chmodSync(probeDir, 0o755);
  const { build } = await import('esbuild');
  await build({
    entryPoints: [PROBE_SOURCE], outfile: path.join(probeDir, 'probe.mjs'), bundle: true, format: 'esm', platform: 'node', target: 'node20', logLevel: 'warning',
    banner: { js: "import { createRequire as __probeRequire } from 'node:module'; const require = __probeRequire(import.meta.url);" },
  });
});
afterAll(() => {
  rmSync(workspace, { recursive: true, force: true });
  rmSync(probeDir, { recursive: true, force: true });
});

describeDocker('the Bash tool in the offline agent image', () => {
  it('runs the audit\'s ATKD01 command with the image\'s sh, and says so to the model (ATKD01) [audit #19]', async () => {
    const run = await runCommand('docker', [
      'run', '--rm', '--label', 'distributed-agent-network.test=agent-image-bash',
      '--read-only', '--tmpfs', '/tmp:rw,nosuid,nodev', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--network', 'none',
      '--user', '0:0', '--cap-add', 'SETUID', '--cap-add', 'SETGID', '-e', 'DAN_RUN_AS=1000:1000',
      ...Object.entries(SECRETS).flatMap(([name, value]) => ['-e', `${name}=${value}`]),
      '--mount', `type=bind,source=${workspace},target=/workspace`, '--mount', `type=bind,source=${probeDir},target=/probe,readonly`, '--entrypoint', 'node',
      testAgentImage(), '/probe/probe.mjs', ATKD01,
    ], { timeoutMs: 120_000 });
    expect(run.stderr).toBe('');
    expect(run.stdout).not.toContain('could not be started');
    expect(run.stdout).not.toMatch(/^TOOL ERROR/m);
    expect(run.stdout).toContain('bash is not installed here: use POSIX sh syntax');
    expect(run.stdout).toContain('uid=1000');
    // The agent's /proc/<pid>/environ (here also PID 1) is closed to its commands (audit #18).
    expect(run.stdout).toMatch(/^CapEff:\s+0+$/m);
    for (const secret of Object.values(SECRETS)) expect(run.stdout).not.toContain(secret);
    expect(run.stdout).toMatch(/PPID-ENV:\n.*Permission denied/);
    expect(run.stdout).toContain('tmp-writable');
    expect(run.stdout).toMatch(/spawned-escapee\n\[exit code 0\]/);
  });
});
