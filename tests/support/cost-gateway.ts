import type { Redis } from 'ioredis';
import { CostControl } from '../../lib/llm/cost-control.js';
import { LocalModelServer } from '../../lib/llm/local-server/local-model-server.js';
import { ModelGateway } from '../../lib/llm/model-gateway.js';
import type { PriceTable } from '../../lib/llm/model-prices.js';
import { createLogger } from '../../lib/logger.js';
import type { TokenCheck } from '../../lib/redis/gateway-tokens.js';
import type { Keys } from '../../lib/redis/keys.js';

export interface CostGateway {
  model: LocalModelServer;
  gateway: ModelGateway;
  url: string;
  /** Every warning line the gateway logged. */
  warnings: string[];
  stop(): Promise<void>;
}

/** The model gateway with cost control at `prices`, in front of a local model server, for tests of what it charges. */
export async function startCostGateway(redis: Redis, keys: Keys, tokens: TokenCheck, prices: PriceTable): Promise<CostGateway> {
  const model = new LocalModelServer();
  const upstream = await model.start();
  const warnings: string[] = [];
  const logger = createLogger({ level: 'warn', destination: { write: (line: string) => { warnings.push(line); } } });
  const costs = new CostControl({ redis, keys, prices, logger });
  const gateway = new ModelGateway({ upstream: { baseUrl: upstream, apiKey: 'upstream-key' }, tokens, costs, logger });
  const url = await gateway.start();
  return {
    model, gateway, url, warnings,
    async stop() {
      await gateway.stop();
      await model.stop();
    },
  };
}

/** A task of `domain` taken by `owner`, as the claim script leaves it, with `metadata`. */
export async function takenTask(redis: Redis, keys: Keys, taskId: string, domain: string, owner: string, metadata: Record<string, unknown> = {}): Promise<void> {
  await redis.hset(keys.task(taskId), 'owner', owner, 'domain', domain, 'raw', JSON.stringify({ task_id: taskId, payload: { description: 'x' }, metadata }));
}
