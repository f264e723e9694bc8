import type { Config } from '../../lib/config.js';
import { agentEnv } from '../../lib/config/agent-env.js';

/**
 * The environment main gives the domains it spawns: every setting the settings table forwards
 * (`agentEnv`), the Redis they are to use (`dan up` may have started a private one, where they get
 * the restricted `agent` user and main keeps its own), and JSON log lines, which the spawner reads and shows formatted.
 */
export function networkEnv(config: Config, agentRedisUrl: string): Record<string, string> {
  return { ...agentEnv(config), REDIS_URL: agentRedisUrl, DAN_LOG_FORMAT: 'json' };
}
