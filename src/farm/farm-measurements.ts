#!/usr/bin/env node
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, packageRoot } from '../../lib/config.js';
import { FarmStore } from '../../lib/farm/farm-store.js';
import { createModelAccess } from '../../lib/llm/create-llm-client.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { parseRules } from '../../lib/llm/local-server/rules.js';
import { createLogger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { readResultFields, readResultStatus } from '../../lib/redis/result-fields.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { freePort, startRedisServer } from '../cli/local-redis.js';
import { startDomainOrchestrator } from '../domain/domain-orchestrator.js';

/**
 * `npm run measure:farm` (after a build): the farm on the fixture repository (tests/fixtures/farm-app,
 * 8 seeded problems in 6 files) against the local model server and a private Redis, with 1, 2 and 4
 * agents for each runtime: wall time, tokens per fixed problem, and the farm's own overhead per agent
 * (memory of the farm process, Redis commands per minute). `--json` for JSON;
 * DAN_MEASURE_FARM_MODEL_DELAY_MS makes every model answer that late, as a real model's would be;
 * DAN_MEASURE_FARM_AGENTS (1,2,4) and DAN_MEASURE_FARM_RUNTIMES (claude-code,sdk) choose the runs.
 */
async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const root = packageRoot();
  const logger = createLogger({ level: 'warn' });
  const redisServer = await startRedisServer(await freePort(), logger);
  const rulesFile = path.join(root, 'tests', 'fixtures', 'farm-rules.json');
  // A real model takes seconds per answer; DAN_MEASURE_FARM_MODEL_DELAY_MS gives every farm answer that latency.
  const delayMs = Number(process.env['DAN_MEASURE_FARM_MODEL_DELAY_MS'] ?? 0);
  const loaded = parseRules(JSON.parse(readFileSync(rulesFile, 'utf8')), rulesFile);
  const rules = delayMs > 0 ? [...loaded.fileRules.map((r) => (typeof r.reply === 'function' ? r : { ...r, reply: { ...r.reply, delay_ms: delayMs } })), ...loaded.rules.slice(loaded.fileRules.length)] : loaded.rules;
  const model = new LocalModelServer({ rules });
  const modelUrl = await model.start({ port: 0 });
  const farmDir = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-measure-'));
  const config = loadConfig({}, {
    REDIS_URL: redisServer.url, DAN_LLM: 'local', DAN_LLM_URL: modelUrl, DAN_ELF: 'off', DAN_LOG_LEVEL: 'warn',
    DAN_FARM_DIR: farmDir, DAN_AGENTS_DIR: path.join(root, 'agents'), DAN_DOMAIN_IDLE_MS: '0',
  });
  const redis = await connectRedis(config.redisUrl);
  const keys = new Keys('');
  const modelAccess = () => createModelAccess(config, logger);
  const domain = await startDomainOrchestrator({ config, domain: 'farm', agentId: 'farm-measure', logger, llm: async () => (await modelAccess()).client, modelAccess });
  const agentCounts = (process.env['DAN_MEASURE_FARM_AGENTS'] ?? '1,2,4').split(',').map(Number);
  const runtimes = (process.env['DAN_MEASURE_FARM_RUNTIMES'] ?? 'claude-code,sdk').split(',');
  const rows: Record<string, unknown>[] = [];
  try {
    // A first farm loads what every farm needs (modules, the runtime); it is not counted.
    await measure('sdk', 1);
    for (const runtime of runtimes) {
      for (const agents of agentCounts) rows.push(await measure(runtime, agents));
    }
  } finally {
    await domain.stop();
    redis.disconnect();
    await model.stop();
    await redisServer.stop();
    rmSync(farmDir, { recursive: true, force: true });
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  process.stdout.write('runtime      agents  wall s  speed-up  fixed  tokens/fixed  farm RSS MB/agent  agent RSS MB  Redis cmds/min/agent\n');
  for (const r of rows) {
    const base = rows.find((x) => x['runtime'] === r['runtime'] && x['agents'] === agentCounts[0]);
    const speedUp = Number(base?.['wall_ms']) / Number(r['wall_ms']);
    process.stdout.write(`${String(r['runtime']).padEnd(12)} ${String(r['agents']).padStart(6)}  ${(Number(r['wall_ms']) / 1000).toFixed(1).padStart(6)}  ${speedUp.toFixed(2).padStart(8)}  ${String(r['fixed']).padStart(5)}  ${String(r['tokens_per_fixed_problem']).padStart(12)}  ${Number(r['farm_rss_mb_per_agent']).toFixed(1).padStart(17)}  ${Number(r['agent_rss_mb']).toFixed(0).padStart(12)}  ${Number(r['redis_commands_per_minute_per_agent']).toFixed(0).padStart(20)}\n`);
  }

  async function measure(runtime: string, agents: number): Promise<Record<string, unknown>> {
    const repo = mkdtempSync(path.join(os.tmpdir(), 'dan-farm-app-'));
    cpSync(path.join(root, 'tests', 'fixtures', 'farm-app'), repo, { recursive: true });
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env: { ...process.env, GIT_AUTHOR_NAME: 'm', GIT_AUTHOR_EMAIL: 'm@m', GIT_COMMITTER_NAME: 'm', GIT_COMMITTER_EMAIL: 'm@m' } });
    git('init', '-q');
    git('add', '-A');
    git('commit', '-q', '-m', 'fixture');
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const commandsBefore = await totalCommands();
    let rssPeak = rssBefore;
    const agentRss: number[] = [];
    const started = Date.now();
    const { taskId } = await submitTask(redis, keys, {
      domain: 'farm', description: 'Fix every lint problem', timeoutSeconds: 1_800,
      context: { path: repo, agent_count: agents, problems_command: 'node check.mjs', runtime },
    });
    const store = new FarmStore(redis, keys, taskId);
    let status = '';
    while (status !== 'completed' && status !== 'failed') {
      await new Promise((resolve) => setTimeout(resolve, 200));
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      for (const name of await store.agentNames()) {
        const pid = (await store.agent(name))['pid'];
        const rss = pid ? processRss(Number(pid)) : undefined;
        if (rss) agentRss.push(rss);
      }
      status = (await readResultStatus(redis, keys, taskId)) ?? '';
    }
    const wallMs = Date.now() - started;
    const commands = (await totalCommands()) - commandsBefore;
    const result = await readResultFields(redis, keys, taskId);
    const output = JSON.parse(result['output'] ?? '{}') as { problems_before?: number; problems_after?: number; usage?: { input_tokens: number; output_tokens: number }; tokens_per_fixed_problem?: number };
    rmSync(repo, { recursive: true, force: true });
    return {
      runtime, agents, status, wall_ms: wallMs,
      problems_before: output.problems_before, problems_after: output.problems_after,
      fixed: (output.problems_before ?? 0) - (output.problems_after ?? 0),
      tokens_in: output.usage?.input_tokens, tokens_out: output.usage?.output_tokens,
      tokens_per_fixed_problem: output.tokens_per_fixed_problem,
      farm_rss_mb_per_agent: (rssPeak - rssBefore) / 1024 / 1024 / agents,
      agent_rss_mb: agentRss.length ? agentRss.reduce((a, b) => a + b, 0) / agentRss.length / 1024 / 1024 : 0,
      redis_commands: commands,
      redis_commands_per_minute_per_agent: commands / (wallMs / 60_000) / agents,
    };
  }

  async function totalCommands(): Promise<number> {
    // Redis's own command counter, read as any outside monitor would.
    // eslint-disable-next-line no-restricted-syntax
    const info = await redis.info('stats');
    return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
  }
}

/** Resident memory of a process (bytes), from /proc; undefined when it is gone or not on Linux. */
function processRss(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`measure:farm: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
