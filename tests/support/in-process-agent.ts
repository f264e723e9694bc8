import type { InProcessAgent, InProcessAgentContext } from '../../lib/spawner/in-process-spawner.js';
import { startAgent } from '../../src/start-agent.js';

/**
 * Starts a domain agent in the test process, as `dist/src/agent.js` starts it in a child: the same
 * `startAgent`, with the agent's own environment for its secrets.
 */
export async function startAgentInProcess({ config, agentId, logger, env }: InProcessAgentContext): Promise<InProcessAgent> {
  return startAgent({ config, agentId, logger, env });
}
