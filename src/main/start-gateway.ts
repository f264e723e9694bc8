import type { Config } from '../../lib/config.js';
import type { ModelAccess } from '../../lib/llm/create-llm-client.js';
import { GatewayRateLimit } from '../../lib/llm/gateway-rate-limit.js';
import { CostControl } from '../../lib/llm/cost-control.js';
import { ModelGateway } from '../../lib/llm/model-gateway.js';
import { loadPriceTable } from '../../lib/llm/model-prices.js';
import type { Logger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { GatewayTokens } from '../../lib/redis/gateway-tokens.js';
import { Keys } from '../../lib/redis/keys.js';
import { ModelRateLimit } from '../../lib/redis/model-rate-limit.js';
import { recordModelCall, type ModelCallRecord } from '../../lib/redis/task-metrics.js';
import type { Spawner } from '../../lib/spawner/spawner.js';
import { ISOLATED_NETWORK } from '../../lib/spawner/isolated-network.js';
import { groupHoldings, TokenIssuingSpawner } from '../../lib/spawner/token-issuing-spawner.js';

export interface RunningGateway {
  /** The URL agents are given (DAN_GATEWAY_ADVERTISE, else where it listens). */
  url: string;
  /** The spawner to start agents with: each gets a token of its own (a Swarm service's replicas one for the service), revoked when it goes. */
  spawner: Spawner;
  tokens: GatewayTokens;
  /** Closes the gateway and its Redis connection; the spawner revokes its tokens when it closes. */
  stop(): Promise<void>;
}

/** Whom compose's standing token (DAN_GATEWAY_COMPOSE_TOKEN) is listed as, and revoked by: `dan gateway --revoke compose-domains`. */
export const COMPOSE_DOMAINS_AGENT = 'compose-domains';

/** `host:port` as [host, port]; by default 127.0.0.1 on a free port. */
function splitListen(listen: string | undefined): [string, number] {
  if (!listen) return ['127.0.0.1', 0];
  const at = listen.lastIndexOf(':');
  return [listen.slice(0, at), Number(listen.slice(at + 1))];
}

/**
 * Starts the model gateway of a network: the one place its model key is used. Domain agents, and
 * the workers and Claude Code CLIs they run, reach the model through it with a token issued when the
 * agent is spawned, so none of them ever holds the key. Domains main does not spawn (compose's
 * always-on ones, external agents) use the standing token DAN_GATEWAY_COMPOSE_TOKEN of `env`,
 * registered here as the group token of `domains` (the domains main offers, from its own catalog).
 */
export async function startGateway(config: Config, logger: Logger, redisUrl: string, model: ModelAccess, spawner: Spawner, domains: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<RunningGateway> {
  const redis = await connectRedis(redisUrl, { name: 'dan-model-gateway', logger });
  const keys = new Keys(config.keyPrefix);
  const tokens = new GatewayTokens(redis, keys);
  const composeToken = env['DAN_GATEWAY_COMPOSE_TOKEN'] || undefined;
  try {
    // The token each adopted Swarm service's spec holds stays: its replicas, and those it starts later, use it.
    const orphans = await tokens.revokeOrphans(groupHoldings(spawner.groups?.() ?? []));
    if (orphans > 0) logger.info({ revoked: orphans }, 'revoked model gateway tokens of agents that are gone');
    if (composeToken) await registerComposeToken(tokens, composeToken, domains, logger);
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  // Each call counted in Redis for /metrics (best effort: a call is never held up or failed by its count).
  const onCall = (call: ModelCallRecord): void => {
    void recordModelCall(redis, keys, call).catch((err: Error) => logger.debug({ err: err.message }, 'could not count the model call in Redis'));
  };
  // Always on: a model without limits still honours the pause a 429 puts on it.
  const rateLimit = new GatewayRateLimit({ limiter: new ModelRateLimit(redis, keys, config.llm.rateLimit), maxWaitMs: config.llm.rateLimit.maxWaitMs, logger });
  // Every call priced and held to its task's and client's budgets (DAN_MODEL_PRICES, metadata.budget_usd, DAN_CLIENT_DAILY_BUDGET_USD).
  const costs = new CostControl({ redis, keys, prices: loadPriceTable(config.cost.prices), clientDailyBudgetUsd: config.cost.clientDailyBudgetUsd, logger });
  const gateway = new ModelGateway({ upstream: model.upstream, tokens, maxBodyBytes: config.llm.gateway.maxBodyBytes, logger, onCall, rateLimit, costs });
  let listening: string;
  try {
    listening = await gateway.start(...splitListen(config.llm.gateway.listen));
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  const url = config.llm.gateway.advertise ?? listening;
  // `host` shares this loopback, and `isolated` carries the gateway's address through a socket; a named network does neither.
  if (config.spawner === 'swarm' && config.docker.swarmNetwork !== 'host' && !config.llm.gateway.advertise) {
    logger.warn({ url, network: config.docker.swarmNetwork },
      `Swarm replicas on network ${config.docker.swarmNetwork} cannot reach the model gateway at ${url}: set DAN_GATEWAY_LISTEN=0.0.0.0:4011 and DAN_GATEWAY_ADVERTISE=http://<this host as the replicas reach it>:4011, or DAN_SWARM_NETWORK=host`);
  }
  if (config.spawner === 'docker' && config.docker.network !== 'host' && config.docker.network !== ISOLATED_NETWORK && !config.llm.gateway.advertise) {
    logger.warn({ url, network: config.docker.network },
      `domain containers on Docker network ${config.docker.network} cannot reach the model gateway at ${url}: set DAN_GATEWAY_LISTEN=0.0.0.0:4011 and DAN_GATEWAY_ADVERTISE=http://<this host on that network>:4011 (compose does), or DAN_DOCKER_NETWORK=isolated (the default)`);
  }
  logger.info({ url: listening, ...(url !== listening ? { agentsUse: url } : {}) }, 'agents reach the model through the model gateway, each with its own token');
  return {
    url, tokens,
    spawner: new TokenIssuingSpawner(spawner, { gatewayUrl: url, tokens, logger }),
    stop: async () => {
      await gateway.stop();
      if (composeToken) await tokens.withdrawStanding(composeToken).catch((error: Error) => logger.warn({ err: error }, 'could not withdraw the compose domains\' model gateway token; the next main registers it again'));
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/**
 * Registers compose's standing token, or says why not: one revoked with `dan gateway --revoke` stays
 * revoked (it may have leaked), and main runs on without it, for the domains it spawns itself.
 *
 * It is a group token, as a Swarm service's is: a call with it may name a task of one of `domains`
 * held by an agent named `{domain}-{8 hex}` (compose's are backend-00000001, frontend-00000002,
 * devops-00000003; external agents without AGENT_ID pick such ids), so their calls are charged to their
 * tasks and held to their budgets. Which domains: every domain main offers, read from main's own agent
 * catalog, never from what an agent says; which of them compose's profiles (or the runner of external
 * agents) start, main cannot see without trusting those agents. One token for all of them
 * rather than one per compose service: the services already share this one secret, and a token per
 * service made from it (the same secret with the domain appended, all compose can do without a
 * secret per service in .env) would separate nothing, since each container could make the others'.
 */
async function registerComposeToken(tokens: GatewayTokens, token: string, domains: readonly string[], logger: Logger): Promise<void> {
  const record = await tokens.registerStanding(COMPOSE_DOMAINS_AGENT, token, domains);
  if (record === 'revoked') {
    logger.error(`DAN_GATEWAY_COMPOSE_TOKEN was revoked (dan gateway --revoke ${COMPOSE_DOMAINS_AGENT}), so compose's always-on domains get 401 from the model gateway: set a new one in .env (openssl rand -hex 32) and run 'docker compose --profile domains up -d'`);
    return;
  }
  logger.info({ tokenId: record.id, agentId: COMPOSE_DOMAINS_AGENT, domains }, "compose's always-on domains reach the model through the gateway with DAN_GATEWAY_COMPOSE_TOKEN");
}
