import { randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import { DanError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AnthropicLlmClientOptions } from './anthropic-llm-client.js';
import type { LlmClient } from './llm-client.js';
import { LocalModelServer } from './local-server/local-model-server.js';
import { loadRulesFile } from './local-server/rules.js';
import type { Upstream } from './model-gateway-forward.js';

// The same as ANTHROPIC_DEFAULT_BASE_URL, not imported from the adapter: the SDK loads on the first call only.
const PUBLIC_API = 'https://api.anthropic.com';

/** The key the local server is called with: it accepts any, and this one says what it is. */
export const LOCAL_MODEL_KEY = 'local-scripted-model';

export interface ModelAccess {
  client: LlmClient;
  /** One line for people: which model answers and how. */
  description: string;
  /** The URL domain agents should use when this process started the local server. */
  localUrl: string | undefined;
  /** Where the model gateway sends agents' calls, with the key it alone holds: one path for the API and the local server. */
  upstream: Upstream;
  close(): Promise<void>;
}

/**
 * Decides where model answers come from, in this order: `DAN_LLM=anthropic` or an
 * `ANTHROPIC_API_KEY` means the real API (honouring `ANTHROPIC_BASE_URL`); else `DAN_LLM_URL` names a
 * running local server; else a local scripted server starts in this process. Without a key and with
 * `DAN_LLM=anthropic`, it fails with what to do.
 */
export async function createModelAccess(config: Config, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<ModelAccess> {
  const apiKey = env['ANTHROPIC_API_KEY'];
  if (config.llm.mode === 'anthropic' || (config.llm.mode === 'auto' && apiKey)) {
    if (!apiKey) {
      throw new DanError('missing_api_key', 'ANTHROPIC_API_KEY is not set: export it to use the Anthropic API, or set DAN_LLM=local to use the local scripted model', { exitCode: 2 });
    }
    const baseURL = config.llm.baseUrl;
    return {
      client: anthropicClient({ apiKey, ...(baseURL ? { baseURL } : {}), logger, maxRetries: config.llm.maxRetries, maxReplyBytes: config.llm.maxReplyBytes }),
      description: `Anthropic API${baseURL ? ` at ${baseURL}` : ''}`,
      localUrl: undefined,
      upstream: { baseUrl: baseURL ?? PUBLIC_API, apiKey },
      close: async () => undefined,
    };
  }
  if (config.llm.localUrl) {
    return {
      client: anthropicClient({ apiKey: LOCAL_MODEL_KEY, baseURL: config.llm.localUrl, logger, maxRetries: config.llm.maxRetries, maxReplyBytes: config.llm.maxReplyBytes }),
      description: `local scripted model server at ${config.llm.localUrl}`,
      localUrl: config.llm.localUrl,
      upstream: { baseUrl: config.llm.localUrl, apiKey: LOCAL_MODEL_KEY },
      close: async () => undefined,
    };
  }
  const rules = config.llm.rulesFile ? (await loadRulesFile(config.llm.rulesFile)).rules : undefined;
  // Known to this process (its own client, the model gateway) only: whatever else reaches the port is refused.
  const key = `${LOCAL_MODEL_KEY}-${randomBytes(16).toString('hex')}`;
  const server = new LocalModelServer({ ...(rules ? { rules } : {}), logger, maxBodyBytes: config.llm.localMaxBodyBytes, apiKey: key });
  const [host, port] = splitListen(config.llm.localListen);
  const listening = await server.start({ host, port });
  const url = config.llm.localAdvertise ?? listening;
  logger.info({ url: listening, ...(url !== listening ? { agentsUse: url } : {}), rules: config.llm.rulesFile ?? 'default' }, 'no ANTHROPIC_API_KEY: model answers are scripted by the local model server');
  return {
    client: anthropicClient({ apiKey: key, baseURL: listening, logger, maxRetries: config.llm.maxRetries, maxReplyBytes: config.llm.maxReplyBytes }),
    description: `local scripted model server at ${listening} (no ANTHROPIC_API_KEY; answers are scripted, rules: ${config.llm.rulesFile ?? 'default'})`,
    localUrl: url,
    upstream: { baseUrl: listening, apiKey: key },
    close: () => server.stop(),
  };
}

/**
 * The Anthropic adapter, its SDK loaded on the first request: a main orchestrator that routes by
 * scores, or a domain serving only echo tasks, never loads it (a thousand modules: start-up time and
 * resident memory).
 */
function anthropicClient(options: AnthropicLlmClientOptions): LlmClient {
  let client: Promise<LlmClient> | undefined;
  return {
    name: 'anthropic',
    createMessage: async (request, callOptions) => {
      client ??= import('./anthropic-llm-client.js').then((m) => new m.AnthropicLlmClient(options));
      return (await client).createMessage(request, callOptions);
    },
  };
}

/** `host:port` as [host, port]; by default 127.0.0.1 on a free port. */
function splitListen(listen: string | undefined): [string, number] {
  if (!listen) return ['127.0.0.1', 0];
  const at = listen.lastIndexOf(':');
  return [listen.slice(0, at), Number(listen.slice(at + 1))];
}

/** Environment a spawned agent needs to reach the same model this process uses. */
export function modelEnv(access: ModelAccess, config: Config): Record<string, string> {
  if (access.localUrl) return { DAN_LLM: 'local', DAN_LLM_URL: access.localUrl };
  const env: Record<string, string> = { DAN_LLM: 'anthropic' };
  if (config.llm.baseUrl) env['ANTHROPIC_BASE_URL'] = config.llm.baseUrl;
  return env;
}

/** Environment that points another program speaking the Messages API (the Claude Code CLI) at the same model. */
export function cliModelEnv(access: ModelAccess, config: Config, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (access.localUrl) return { ANTHROPIC_BASE_URL: access.localUrl, ANTHROPIC_API_KEY: access.upstream.apiKey };
  return { ANTHROPIC_API_KEY: env['ANTHROPIC_API_KEY'] ?? '', ...(config.llm.baseUrl ? { ANTHROPIC_BASE_URL: config.llm.baseUrl } : {}) };
}
