import type { ModelAccess } from '../../lib/llm/create-llm-client.js';
import { createModelAccess } from '../../lib/llm/create-llm-client.js';
import type { InProcessAgent, InProcessAgentContext } from '../../lib/spawner/in-process-spawner.js';
import { startDomainOrchestrator } from '../../src/domain/domain-orchestrator.js';
import { startElfService } from '../../src/elf/elf-service.js';

/**
 * Starts a domain agent in the test process, as `dist/src/agent.js` starts it in a child: the ELF
 * service for the elf domain, else a domain orchestrator with the model loaded on first use. The one
 * place that knows the agent start-ups, so it becomes a call of the shared agent lifecycle once there is one.
 */
export async function startAgentInProcess({ config, agentId, domain, logger, env }: InProcessAgentContext): Promise<InProcessAgent> {
  if (domain === 'elf') return startElfService({ config, agentId, logger });
  let model: Promise<ModelAccess> | undefined;
  const modelAccess = () => (model ??= createModelAccess(config, logger, env));
  const running = await startDomainOrchestrator({ config, domain, agentId, logger, llm: async () => (await modelAccess()).client, modelAccess });
  return {
    stop: running.stop,
    done: running.done.finally(async () => {
      if (model) await (await model).close();
    }),
  };
}
