import { randomBytes } from 'node:crypto';

/**
 * Fresh values of the five Redis passwords compose requires in .env (one per Redis user), as a
 * test passes them in compose's environment.
 */
export function composeRedisPasswords(): Record<'REDIS_PASSWORD' | 'REDIS_MAIN_PASSWORD' | 'REDIS_AGENT_PASSWORD' | 'REDIS_CLIENT_PASSWORD' | 'REDIS_VIEWER_PASSWORD', string> {
  const fresh = (): string => randomBytes(16).toString('hex');
  return {
    REDIS_PASSWORD: fresh(), REDIS_MAIN_PASSWORD: fresh(), REDIS_AGENT_PASSWORD: fresh(), REDIS_CLIENT_PASSWORD: fresh(), REDIS_VIEWER_PASSWORD: fresh(),
  };
}
