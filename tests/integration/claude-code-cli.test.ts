import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';

const CLAUDE = path.resolve('node_modules/.bin/claude');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real Claude Code CLI headless against the local server. `--permission-mode acceptEdits`
 * lets it write files without a prompt (it refuses `--dangerously-skip-permissions` as root unless
 * IS_SANDBOX=1); the environment keeps it off the network and out of the real home directory.
 */
function runClaude(baseUrl: string, cwd: string, home: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLAUDE, ['-p', 'Task: add a health endpoint', '--permission-mode', 'acceptEdits', ...args], {
      cwd,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: home,
        ANTHROPIC_BASE_URL: baseUrl,
        ANTHROPIC_API_KEY: 'local-test-key',
        DISABLE_AUTOUPDATER: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_ERROR_REPORTING: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the Claude Code CLI against the local model server', () => {
  const server = new LocalModelServer();
  let url = '';
  let home = '';
  let cwd = '';

  beforeAll(async () => {
    expect(existsSync(CLAUDE), `${CLAUDE} is missing: run npm ci`).toBe(true);
    url = await server.start();
  });
  afterAll(async () => {
    await server.stop();
  });
  beforeEach(() => {
    server.clearRequests();
    home = mkdtempSync(path.join(os.tmpdir(), 'dan-claude-home-'));
    cwd = mkdtempSync(path.join(os.tmpdir(), 'dan-claude-cwd-'));
    return () => {
      rmSync(home, { recursive: true, force: true });
      rmSync(cwd, { recursive: true, force: true });
    };
  });

  it('writes the file the default rules ask for and returns the answer (--output-format json)', async () => {
    const run = await runClaude(url, cwd, home, ['--output-format', 'json']);

    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { is_error: boolean; result: string; num_turns: number };
    expect(result.is_error).toBe(false);
    expect(result.result).toContain('Created src/api/health-endpoint.ts for: add a health endpoint');
    const written = readFileSync(path.join(cwd, 'src/api/health-endpoint.ts'), 'utf8');
    expect(written).toContain('// add a health endpoint');
    expect(written).toContain('export function healthEndpointHandler');

    const posts = server.requests.filter((r) => r.method === 'POST');
    expect(posts.map((r) => `${r.path}?beta=${r.query['beta']}`)).toEqual(['/v1/messages?beta=true', '/v1/messages?beta=true']);
    expect(posts.map((r) => r.rule)).toEqual(['cli-write', 'cli-answer']);
    const first = posts[0]?.body as { stream: boolean; tools: { name: string }[] };
    expect(first.stream).toBe(true);
    expect(first.tools.map((t) => t.name)).toContain('Write');
    expect(posts[0]?.headers['x-api-key']).toBe('[redacted]');
  });

  it('streams its progress as JSON lines (--output-format stream-json)', async () => {
    const run = await runClaude(url, cwd, home, ['--output-format', 'stream-json', '--verbose']);

    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; result?: string; message?: { content?: { type: string; name?: string }[] } });
    const toolCalls = lines.flatMap((l) => (l.type === 'assistant' ? (l.message?.content ?? []) : [])).filter((b) => b.type === 'tool_use');
    expect(toolCalls.map((b) => b.name)).toEqual(['Write']);
    expect(lines.at(-1)?.type).toBe('result');
    expect(lines.at(-1)?.result).toContain('Created src/api/health-endpoint.ts');
    expect(existsSync(path.join(cwd, 'src/api/health-endpoint.ts'))).toBe(true);
  });
});
