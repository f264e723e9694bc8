import type { Config } from '../../lib/config.js';
import type { ModelAccess } from '../../lib/llm/create-llm-client.js';
import { ModelGateway } from '../../lib/llm/model-gateway.js';
import type { Logger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { GatewayTokens } from '../../lib/redis/gateway-tokens.js';
import { Keys } from '../../lib/redis/keys.js';
import type { Spawner } from '../../lib/spawner/spawner.js';
import { TokenIssuingSpawner } from '../../lib/spawner/token-issuing-spawner.js';

export interface RunningGateway {
  /** The URL agents are given (DAN_GATEWAY_ADVERTISE, else where it listens). */
  url: string;
  /** The spawner to start agents with: each gets a token of its own, revoked when it goes. */
  spawner: Spawner;
  tokens: GatewayTokens;
  /** Closes the gateway and its Redis connection; the spawner revokes its tokens when it closes. */
  stop(): Promise<void>;
}

/** `host:port` as [host, port]; by default 127.0.0.1 on a free port. */
function splitListen(listen: string | undefined): [string, number] {
  if (!listen) return ['127.0.0.1', 0];
  const at = listen.lastIndexOf(':');
  return [listen.slice(0, at), Number(listen.slice(at + 1))];
}

/**
 * Starts the model gateway of a network: the one place its model key is used. Domain agents, and
 * the workers and Claude Code CLIs they run, reach the model through it with a token issued when the
 * agent is spawned, so none of them ever holds the key.
 */
export async function startGateway(config: Config, logger: Logger, redisUrl: string, model: ModelAccess, spawner: Spawner): Promise<RunningGateway> {
  const redis = await connectRedis(redisUrl, { name: 'dan-model-gateway', logger });
  const tokens = new GatewayTokens(redis, new Keys(config.keyPrefix));
  const orphans = await tokens.revokeOrphans().catch((error: Error) => {
    redis.disconnect();
    throw error;
  });
  if (orphans > 0) logger.info({ revoked: orphans }, 'revoked model gateway tokens of agents that are gone');
  const gateway = new ModelGateway({ upstream: model.upstream, tokens, maxBodyBytes: config.llm.gateway.maxBodyBytes, logger });
  let listening: string;
  try {
    listening = await gateway.start(...splitListen(config.llm.gateway.listen));
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  const url = config.llm.gateway.advertise ?? listening;
  if (config.spawner === 'docker' && config.docker.network !== 'host' && !config.llm.gateway.advertise) {
    logger.warn({ url, network: config.docker.network },
      `domain containers on Docker network ${config.docker.network} cannot reach the model gateway at ${url}: set DAN_GATEWAY_LISTEN=0.0.0.0:4011 and DAN_GATEWAY_ADVERTISE=http://<this host on that network>:4011 (compose does), or DAN_DOCKER_NETWORK=host`);
  }
  logger.info({ url: listening, ...(url !== listening ? { agentsUse: url } : {}) }, 'agents reach the model through the model gateway, each with its own token');
  return {
    url, tokens,
    spawner: new TokenIssuingSpawner(spawner, { gatewayUrl: url, tokens, logger }),
    stop: async () => {
      await gateway.stop();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
