#!/usr/bin/env node
import { FarmStore } from '../../lib/farm/farm-store.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { checkEdit, outsideWorktree } from './edit-guard.js';

/**
 * The hook the Claude Code CLI runs before and after every write of a farm agent, and before every
 * read (argument: `before`, `after` or `read`; the tool call as JSON on stdin). Exit 2 refuses the write, and what it
 * prints on stderr is what the model reads. It fails closed: no Redis, no write.
 */
async function main(): Promise<number> {
  const phase = process.argv[2] === 'after' ? 'after' : process.argv[2] === 'read' ? 'read' : 'before';
  const env = process.env;
  const worktree = env['DAN_FARM_WORKTREE'];
  const farmId = env['DAN_FARM_ID'];
  const agent = env['DAN_FARM_AGENT'];
  if (!worktree || !farmId || !agent) {
    process.stderr.write('the farm edit hook has no DAN_FARM_ID, DAN_FARM_AGENT or DAN_FARM_WORKTREE: it only runs for farm agents\n');
    return 2;
  }
  const input = JSON.parse(await readStdin()) as { tool_input?: { file_path?: unknown; notebook_path?: unknown; path?: unknown } };
  const file = input.tool_input?.file_path ?? input.tool_input?.notebook_path ?? input.tool_input?.path;
  if (typeof file !== 'string' || file === '') return 0;
  if (phase === 'read') {
    // Reads need no lock: only the worktree check, without a Redis connection.
    const refusal = outsideWorktree(worktree, file);
    if (refusal) process.stderr.write(`${refusal}\n`);
    return refusal ? 2 : 0;
  }
  const redis = await connectRedis(env['REDIS_URL'] ?? 'redis://localhost:6379', { name: `farm-hook-${agent}`, failFast: true });
  try {
    const store = new FarmStore(redis, new Keys(env['DAN_KEY_PREFIX'] ?? ''), farmId);
    const refusal = await checkEdit({ store, agent, worktree, lockMs: Number(env['DAN_FARM_LOCK_MS'] ?? 30_000) }, file, phase);
    if (refusal) {
      process.stderr.write(`${refusal}\n`);
      return 2;
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}

function readStdin(): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => (text += chunk));
    process.stdin.on('end', () => resolve(text || '{}'));
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`the farm edit check failed, so the write is refused: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
