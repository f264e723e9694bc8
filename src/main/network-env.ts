import type { Config } from '../../lib/config.js';
import { agentEnv } from '../../lib/config/agent-env.js';
import { urlForRole } from '../../lib/redis/acl.js';

/**
 * The environment main gives the domains it spawns: every setting the settings table forwards
 * (`agentEnv`), the Redis they are to use (`dan up` may have started a private one, where they get
 * the restricted `agent` user and main keeps its own), and JSON log lines, which the spawner reads and shows formatted.
 */
export function networkEnv(config: Config, agentRedisUrl: string): Record<string, string> {
  return { ...agentEnv(config), REDIS_URL: agentRedisUrl, DAN_LOG_FORMAT: 'json' };
}

/**
 * The Redis URL of the `agent` user for the domains a main orchestrator in a container spawns, when
 * REDIS_AGENT_PASSWORD is set (compose, whose broker has the users of `dan redis-acl`): main's own
 * URL with that user and password. Unset: undefined, and the domains get main's URL, as on a Redis
 * with one password for all. Read here, where it is used, like every secret.
 */
export function agentRedisUrlFromEnv(mainUrl: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const password = env['REDIS_AGENT_PASSWORD'];
  return password ? urlForRole(mainUrl, 'agent', password) : undefined;
}
