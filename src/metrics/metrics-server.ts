import http from 'node:http';
import type { Config } from '../../lib/config.js';
import { DanError, ExitCode } from '../../lib/errors.js';
import { closeServer, listenOn } from '../../lib/llm/local-server/http-io.js';
import type { Logger } from '../../lib/logger.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { HeartbeatRegistry } from '../../lib/redis/heartbeat-registry.js';
import { Keys } from '../../lib/redis/keys.js';
import { metricsSnapshot } from '../operations/metrics-snapshot.js';
import { renderMetrics } from './prometheus-metrics.js';

export interface RunningMetricsServer {
  /** Where Prometheus scrapes: `http://host:port/metrics`. */
  url: string;
  stop(): Promise<void>;
}

/**
 * The main orchestrator's /metrics port (DAN_METRICS_PORT, `dan up --metrics-port`), for networks that
 * run no `dan serve`: the same text as `dan serve`'s GET /metrics, read from Redis on each scrape over
 * a connection of its own. It has no keys, so it listens on loopback unless DAN_METRICS_HOST says
 * otherwise; anything but GET /metrics is answered 404.
 */
export async function startMetricsServer(options: { config: Config; logger: Logger; redisUrl: string }): Promise<RunningMetricsServer> {
  const { config, logger } = options;
  const redis = await connectRedis(options.redisUrl, { name: 'dan-metrics', logger });
  const keys = new Keys(config.keyPrefix);
  const registry = new HeartbeatRegistry(redis, keys, config.heartbeatTtlMs);
  const server = http.createServer((req, res) => {
    const [pathname] = (req.url ?? '/').split('?');
    if (req.method !== 'GET' || pathname !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('this port serves only GET /metrics\n');
      return;
    }
    renderMetrics(() => metricsSnapshot(redis, keys, config, registry)).then(({ contentType, text }) => {
      res.writeHead(200, { 'content-type': contentType }).end(text);
    }, (error: unknown) => {
      logger.warn({ err: error }, 'metrics scrape failed');
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end(`cannot read the metrics from Redis (${(error as Error).message}): check that Redis runs\n`);
    });
  });
  let url: string;
  try {
    url = `${await listenOn(server, config.metrics.host, config.metrics.port, 'set DAN_METRICS_PORT (dan up --metrics-port) to a free port')}/metrics`;
  } catch (error) {
    redis.disconnect();
    // A port in use is the caller's to change, like any other bad setting (exit 2).
    if (error instanceof DanError && error.code === 'port_in_use') throw new DanError(error.code, error.message, { exitCode: ExitCode.usage, cause: error });
    throw error;
  }
  logger.info({ url }, 'metrics for Prometheus');
  return {
    url,
    stop: async () => {
      await closeServer(server);
      redis.disconnect();
    },
  };
}
