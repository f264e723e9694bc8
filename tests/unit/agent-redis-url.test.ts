import { describe, expect, it } from 'vitest';
import { agentRedisUrlFromEnv } from '../../src/main/network-env.js';

describe('agentRedisUrlFromEnv', () => {
  it("gives the domains main spawns the agent user on main's server when REDIS_AGENT_PASSWORD is set (compose)", () => {
    expect(agentRedisUrlFromEnv('redis://main:main-password-0123@message-broker:6379', { REDIS_AGENT_PASSWORD: 'agent-password-0123' }))
      .toBe('redis://agent:agent-password-0123@message-broker:6379');
  });

  it("leaves them main's URL without it (a Redis with one password for all)", () => {
    expect(agentRedisUrlFromEnv('redis://:one-password@127.0.0.1:6379', {})).toBeUndefined();
  });
});
