import type { Config } from '../../lib/config.js';
import { agentEnv } from '../../lib/config/agent-env.js';

/**
 * The environment main gives the domains it spawns: every setting the settings table forwards
 * (`agentEnv`), the Redis this process really uses (`dan up` may have started a private one), and
 * JSON log lines, which the spawner reads and shows formatted.
 */
export function networkEnv(config: Config, redisUrl: string): Record<string, string> {
  return { ...agentEnv(config), REDIS_URL: redisUrl, DAN_LOG_FORMAT: 'json' };
}
