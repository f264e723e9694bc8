import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseMemorySize, WORKER_ROLES } from '../agents/agent-definitions.js';
import { DELIVERIES } from '../protocol/task.js';
import { parseForwards, type ForwardSpec } from '../net/socket-forwarder.js';
import { SANDBOX_MODES } from '../sandbox/command-sandbox.js';
import { CLIENT_ID_PATTERN } from '../protocol/client-id.js';
import { parseModelLimits, type ModelLimits } from './model-limits.js';
import { loadPriceTable } from '../llm/model-prices.js';
import { MAX_BUDGET_USD } from '../protocol/budget.js';

/**
 * How a setting reaches the agents a spawner starts, declared once per setting so the environment
 * of a spawned agent is generated, never mirrored by hand:
 * - `forward`: every agent gets the parsed value as is.
 * - `host-path`: a path on this machine. Process agents get it made absolute; a container gets the
 *   path its spawner mounts in its place, or nothing (the image's default applies).
 * - the others are withheld, and say why (`WITHHELD_BECAUSE`).
 */
export type AgentUse = 'forward' | 'host-path' | keyof typeof WITHHELD_BECAUSE;

/** Why agents must not get a setting: the reason a reader of the table needs before changing it. */
export const WITHHELD_BECAUSE = {
  main: 'only the main orchestrator reads it (routing, supervising domains, its local model server)',
  docker: 'only the Docker spawner in the main orchestrator reads it (how containers start)',
  model: 'agents are given the model this process uses instead (modelEnv: DAN_LLM, DAN_LLM_URL, ANTHROPIC_BASE_URL)',
  'per-agent': 'the spawner sets it for each agent it starts',
  api: 'only the HTTP API (dan serve) reads it',
} as const;

/**
 * One setting: its zod schema (parsing, default) and how agents get it. The schema is built when it
 * is used, not when the table is loaded: a process reads its settings once, at start, and the table's
 * ~600 zod objects would otherwise stay in the heap of every agent for its whole life (about 0.7 MB of
 * an idle domain's; see README, "What an idle domain process holds").
 */
export interface Setting<S extends z.ZodType = z.ZodType> {
  schema: () => S;
  agents: AgentUse;
}

function setting<S extends z.ZodType>(schema: () => S, agents: AgentUse): Setting<S> {
  return { schema, agents };
}

const ms = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);
const count = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const onOff = () => z.enum(['on', 'off']).default('on');
const absolute = (value: string) => path.resolve(value);
// prefault, not default: the fallback goes through the transform too, so it is made absolute as well.
const hostPath = (fallback: () => string) => z.string().transform(absolute).prefault(fallback);
const memorySize = (fallback: string, example: string) =>
  z.string().default(fallback).refine((v) => parseMemorySize(v) !== undefined, { error: `must be a memory size such as ${example}` });

/**
 * Every setting of the network, read from the environment of the same name. The README's
 * "Configuration" table documents each; tests/unit/config-settings.test.ts keeps the two in step.
 */
export const SETTINGS = {
  REDIS_URL: setting(() => z.string().default('redis://localhost:6379'), 'forward'),
  DAN_KEY_PREFIX: setting(() => z.string().default(''), 'forward'),
  DAN_AGENTS_DIR: setting(() => z.string().transform(absolute).optional(), 'host-path'),
  DAN_WORKSPACE: setting(() => hostPath(() => 'workspace'), 'host-path'),
  // More folders a task's context.workspace may name, besides DAN_WORKSPACE (path-list separated: ':').
  DAN_WORKSPACE_ROOTS: setting(() => z.string().optional(), 'forward'),
  // The clients the network serves besides `default` (','-separated); a task of any other is dead-lettered. Unset: any client.
  DAN_CLIENTS: setting(() => z.string().optional().refine((v) => v === undefined || v.split(',').every((id) => id.trim() === '' || CLIENT_ID_PATTERN.test(id.trim())),
    { error: 'must be client names (1 to 64 letters, digits, _ or -, starting with a letter or digit) separated by commas' }), 'forward'),
  DAN_LOG_LEVEL: setting(() => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), 'forward'),

  DAN_ROUTER: setting(() => z.enum(['score', 'llm']).default('score'), 'main'),
  DAN_WORKER_SELECTOR: setting(() => z.enum(['score', 'llm']).default('score'), 'forward'),
  DAN_WORKER_RUNTIME: setting(() => z.enum(['sdk', 'claude-code']).default('sdk'), 'forward'),
  DAN_SPAWNER: setting(() => z.enum(['process', 'docker', 'swarm', 'external']).default('process'), 'main'),
  DAN_AGENT_IMAGE: setting(() => z.string().default('dan/agent:latest'), 'docker'),
  DAN_NETWORK_ID: setting(() => z.string().regex(/^[A-Za-z0-9_.:/#-]{1,200}$/, { error: 'must be letters, digits and _.:/#- (up to 200)' }).optional(), 'docker'),
  // `isolated`: Docker's `none` network, with Redis and the model gateway carried through sockets (lib/spawner/isolated-network.ts).
  DAN_DOCKER_NETWORK: setting(() => z.string().default('isolated'), 'docker'),
  DAN_DOCKER_WORKSPACE: setting(() => z.string().optional(), 'docker'),
  DAN_DOCKER_ELF_STORE: setting(() => z.string().optional(), 'docker'),
  // A host folder mounted read-only as domain containers' agents folder (a new domain without an image rebuild).
  DAN_DOCKER_AGENTS_DIR: setting(() => z.string().transform(absolute).optional(), 'docker'),
  DAN_DOCKER_USER: setting(() => z.string().default('1000:1000'), 'docker'),
  DAN_DOCKER_MEMORY: setting(() => memorySize('1g', '512m or 1g'), 'docker'),
  DAN_DOCKER_CPUS: setting(() => z.coerce.number().positive().default(0.5), 'docker'),
  DAN_DOCKER_PIDS: setting(() => z.coerce.number().int().min(16).default(256), 'docker'),
  DAN_DOCKER_TMPFS_SIZE: setting(() => memorySize('256m', '256m'), 'docker'),
  // The network of the Swarm spawner's services: `host`, or an overlay network (attachable) shared with Redis.
  DAN_SWARM_NETWORK: setting(() => z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'must be a Docker network name (letters, digits, _ . -)' }).default('host'), 'docker'),

  DAN_ELF: setting(() => onOff(), 'forward'),
  DAN_ELF_DIR: setting(() => hostPath(() => '.dan/elf'), 'host-path'),
  DAN_ELF_CLIENTS: setting(() => z.string().optional(), 'forward'),
  DAN_ELF_POSTMORTEM: setting(() => onOff(), 'forward'),
  DAN_ELF_TIMEOUT_MS: setting(() => ms(2_000), 'forward'),
  DAN_ELF_BUDGET_TOKENS: setting(() => count(1_500), 'forward'),
  DAN_ELF_TRAIL_HALF_LIFE_HOURS: setting(() => z.coerce.number().positive().default(24), 'forward'),
  // A path on this machine: a container runs the CLI its image holds.
  DAN_CLAUDE_PATH: setting(() => z.string().optional(), 'host-path'),
  DAN_FARM_AGENTS: setting(() => count(3), 'forward'),
  DAN_FARM_MAX_AGENTS: setting(() => count(8), 'forward'),
  DAN_FARM_RUNTIME: setting(() => z.enum(['claude-code', 'sdk']).default('claude-code'), 'forward'),
  DAN_FARM_DIR: setting(() => hostPath(() => path.join(os.tmpdir(), 'dan-farm')), 'host-path'),
  DAN_FARM_STUCK_MS: setting(() => ms(300_000), 'forward'),
  DAN_FARM_RESTART_BASE_MS: setting(() => ms(10_000), 'forward'),
  DAN_FARM_RESTART_MAX_MS: setting(() => ms(300_000), 'forward'),
  DAN_FARM_MAX_RESTARTS: setting(() => ms(3), 'forward'),
  DAN_FARM_CONTEXT_TOKENS: setting(() => count(160_000), 'forward'),
  DAN_FARM_LOCK_MS: setting(() => count(30_000), 'forward'),
  DAN_FARM_PROBLEMS_TIMEOUT_MS: setting(() => count(600_000), 'forward'),
  // More folders a farm's path may be under, besides DAN_WORKSPACE (':'-separated).
  DAN_FARM_ROOTS: setting(() => z.string().optional(), 'forward'),
  // A task in a git repository works on its own branch; when it completes, the branch is merged, left, or pushed.
  DAN_TASK_DELIVERY: setting(() => z.enum(DELIVERIES).default('merge'), 'forward'),
  DAN_TASK_DIR: setting(() => hostPath(() => path.join(os.tmpdir(), 'dan-tasks')), 'host-path'),
  DAN_TASK_REMOTE: setting(() => z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/, { error: 'must be the name of a git remote of the workspace, such as origin' }).default('origin'), 'forward'),
  // Submit and finish wait (Redis WAIT) until this many replicas have their write, at most DAN_REDIS_WAIT_TIMEOUT_MS (0: no wait).
  DAN_REDIS_WAIT_REPLICAS: setting(() => ms(0), 'forward'),
  DAN_REDIS_WAIT_TIMEOUT_MS: setting(() => count(1_000), 'forward'),
  // How long a task may await approval before it fails approval_timeout (a task's metadata.approval_timeout_seconds wins).
  DAN_APPROVAL_WINDOW_MS: setting(() => count(24 * 3600 * 1000), 'forward'),
  // One webhook delivery attempt's time limit, and the attempts (with exponential backoff) before a delivery is given up.
  DAN_WEBHOOK_TIMEOUT_MS: setting(() => count(5_000), 'main'),
  DAN_WEBHOOK_MAX_ATTEMPTS: setting(() => count(6), 'main'),
  DAN_LEASE_MS: setting(() => ms(30_000), 'forward'),
  DAN_MAX_ATTEMPTS: setting(() => count(3), 'forward'),
  DAN_RETRY_BASE_MS: setting(() => ms(1_000), 'forward'),
  DAN_RETRY_MAX_MS: setting(() => ms(60_000), 'forward'),
  DAN_MAX_QUEUE_DEPTH: setting(() => ms(10_000), 'forward'),
  // Sizes of one task in bytes (0: no limit): 1 MB raw text, 64 KB description, 256 KB context.
  DAN_MAX_TASK_BYTES: setting(() => ms(1024 * 1024), 'forward'),
  DAN_MAX_DESCRIPTION_BYTES: setting(() => ms(64 * 1024), 'forward'),
  DAN_MAX_CONTEXT_BYTES: setting(() => ms(256 * 1024), 'forward'),
  DAN_RETENTION_MS: setting(() => ms(7 * 24 * 3600 * 1000), 'forward'),
  DAN_HEARTBEAT_INTERVAL_MS: setting(() => ms(10_000), 'forward'),
  DAN_HEARTBEAT_TTL_MS: setting(() => ms(30_000), 'forward'),
  DAN_SUPERVISE_INTERVAL_MS: setting(() => ms(1_000), 'main'),
  DAN_SPAWN_TIMEOUT_MS: setting(() => ms(15_000), 'main'),
  DAN_DOMAIN_IDLE_MS: setting(() => ms(5 * 60_000), 'forward'),
  DAN_DOMAIN_CONCURRENCY: setting(() => count(4), 'forward'),
  DAN_MAIN_CONCURRENCY: setting(() => count(64), 'main'),
  DAN_MAX_INSTANCES_PER_DOMAIN: setting(() => count(2), 'main'),
  DAN_MAX_DOMAIN_AGENTS: setting(() => count(8), 'main'),
  DAN_SHUTDOWN_GRACE_MS: setting(() => ms(10_000), 'forward'),

  ANTHROPIC_BASE_URL: setting(() => z.string().optional(), 'model'),
  DAN_LLM: setting(() => z.enum(['auto', 'anthropic', 'local']).default('auto'), 'model'),
  DAN_LLM_URL: setting(() => z.string().optional(), 'model'),
  DAN_MOCK_LLM_RULES: setting(() => z.string().optional(), 'main'),
  DAN_LOCAL_LLM_LISTEN: setting(() => z.string().regex(/^[^:\s]+:\d{1,5}$/, { error: 'must be host:port, such as 0.0.0.0:4010' }).optional(), 'main'),
  // 32 MiB, the real API's request limit.
  DAN_LOCAL_LLM_MAX_BODY_BYTES: setting(() => count(32 * 1024 * 1024), 'main'),
  DAN_LOCAL_LLM_ADVERTISE: setting(() => z.string().url({ error: 'must be a URL, such as http://main-orchestrator:4010' }).optional(), 'main'),
  // The model gateway: agents reach the model only through it, with a token; the key stays in main.
  DAN_GATEWAY_LISTEN: setting(() => z.string().regex(/^[^:\s]+:\d{1,5}$/, { error: 'must be host:port, such as 0.0.0.0:4011' }).optional(), 'main'),
  DAN_GATEWAY_ADVERTISE: setting(() => z.string().url({ error: 'must be a URL, such as http://main-orchestrator:4011' }).optional(), 'main'),
  // 32 MiB, the real API's request limit.
  DAN_GATEWAY_MAX_BODY_BYTES: setting(() => count(32 * 1024 * 1024), 'main'),
  // A standing token for agents main does not spawn (compose's always-on domains); 32 characters at least,
  // so it cannot be guessed. Read from the environment where it is registered, never kept in the Config.
  DAN_GATEWAY_COMPOSE_TOKEN: setting(() => z.string().min(32, { error: 'must be 32 characters at least: openssl rand -hex 32 makes one' }).optional(), 'main'),
  // Prices per model (inline JSON or a JSON file's path) laid over the shipped list; the gateway prices every call with them.
  DAN_MODEL_PRICES: setting(() => z.string().optional().superRefine((value, ctx) => {
    try {
      loadPriceTable(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  }), 'main'),
  // Dollars each client may spend on model calls per UTC day (unset: no daily budget); checked by the gateway.
  DAN_CLIENT_DAILY_BUDGET_USD: setting(() => z.coerce.number({ error: 'must be a number of dollars' }).positive({ error: 'must be more than 0' }).max(MAX_BUDGET_USD, { error: `must be at most ${MAX_BUDGET_USD}` }).optional(), 'main'),
  // The HTTP API (dan serve): request bodies it reads at most, 1 MiB like a task; larger ones get 413.
  DAN_API_MAX_BODY_BYTES: setting(() => count(1024 * 1024), 'api'),
  // Per-key limits of a key made without its own (`dan keys create --rpm/--max-in-flight`); 0: none.
  DAN_API_RATE_PER_MINUTE: setting(() => ms(0), 'api'),
  DAN_API_MAX_IN_FLIGHT: setting(() => ms(0), 'api'),
  // The main orchestrator's /metrics port for networks without dan serve (0: off), on DAN_METRICS_HOST (no keys: loopback by default).
  DAN_METRICS_PORT: setting(() => z.coerce.number().int().min(0).max(65_535).default(0), 'main'),
  DAN_METRICS_HOST: setting(() => z.string().min(1).default('127.0.0.1'), 'main'),
  // The shared model rate limit (lib/redis/model-rate-limit.ts), per model and window; 0: none of that kind.
  DAN_MODEL_RPM: setting(() => ms(0), 'main'),
  DAN_MODEL_INPUT_TPM: setting(() => ms(0), 'main'),
  DAN_MODEL_OUTPUT_TPM: setting(() => ms(0), 'main'),
  // Per-model limits that differ from those three, as JSON: {"claude-opus-5-5":{"rpm":50,"input_tpm":30000,"output_tpm":8000}}.
  DAN_MODEL_LIMITS: setting(() => z.string().optional().transform((text, ctx): Record<string, Partial<ModelLimits>> => {
    const parsed = parseModelLimits(text);
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
    return typeof parsed === 'string' ? {} : parsed;
  }), 'main'),
  // 60 s: the API's limits are per minute. Shorter only for tests and the bench's quick form.
  DAN_MODEL_RATE_WINDOW_MS: setting(() => count(60_000), 'main'),
  // How long a call over the limit waits in the gateway for its place before the agent gets 429 with retry-after.
  DAN_MODEL_RATE_MAX_WAIT_MS: setting(() => ms(60_000), 'main'),
  DAN_MODEL_SONNET: setting(() => z.string().default('claude-sonnet-5-5'), 'forward'),
  DAN_MODEL_OPUS: setting(() => z.string().default('claude-opus-5-5'), 'forward'),
  DAN_MODEL_HAIKU: setting(() => z.string().default('claude-haiku-5-5'), 'forward'),
  DAN_DEFAULT_MODEL: setting(() => z.string().default('sonnet'), 'forward'),
  DAN_MAX_TURNS: setting(() => count(20), 'forward'),
  DAN_LLM_MAX_RETRIES: setting(() => z.coerce.number().int().min(0).max(10).default(2), 'forward'),
  DAN_MAX_TOKENS: setting(() => count(8192), 'forward'),
  // 16 MiB: a reply far larger than any max_tokens allows comes from a broken or hostile server.
  DAN_MAX_MODEL_REPLY_BYTES: setting(() => ms(16 * 1024 * 1024), 'forward'),
  DAN_BASH_TIMEOUT_MS: setting(() => ms(120_000), 'forward'),
  DAN_SANDBOX: setting(() => z.enum(SANDBOX_MODES).default('auto'), 'forward'),
  // 10 minutes: a type check and a test suite of a mid-sized project; a hung check ends there.
  DAN_CHECK_TIMEOUT_MS: setting(() => count(600_000), 'forward'),
  // 1 MiB of a check's output kept (its first and last halves); the rest is counted, not kept.
  DAN_CHECK_MAX_OUTPUT_BYTES: setting(() => count(1024 * 1024), 'forward'),
  // Worker rounds of a task with checks, the first included: 3 is the first try and two repairs.
  DAN_VERIFY_ROUNDS: setting(() => count(3), 'forward'),
  DAN_WORKERS_PER_TASK: setting(() => count(3), 'forward'),
  // The worker roles that take part in tasks (`role:` of a worker): leaving out tester or reviewer skips those workers.
  DAN_ROLES: setting(() => z.preprocess(
    (value) => (typeof value === 'string' ? value.split(',').map((r) => r.trim()).filter((r) => r !== '') : value),
    z.array(z.enum(WORKER_ROLES, { error: `must list roles of ${WORKER_ROLES.join(', ')}, comma-separated` }))
      .refine((roles) => roles.includes('coder'), { error: 'must include coder: the coders do the work the other roles test and review' }),
  ).default([...WORKER_ROLES]), 'forward'),

  AGENT_ROLE: setting(() => z.enum(['main', 'domain', 'worker']).optional(), 'per-agent'),
  AGENT_ID: setting(() => z.string().optional(), 'per-agent'),
  DOMAIN_TYPE: setting(() => z.string().optional(), 'per-agent'),
  // Without AGENT_ID, a domain agent is `{domain}-{8 hex}`: `container` takes them from its container's id (Swarm
  // replicas share one spec), `pod-uid` from DAN_POD_UID (Kubernetes pods), `random` draws them (lib/runtime/agent-id.ts).
  DAN_AGENT_ID_FROM: setting(() => z.enum(['random', 'container', 'pod-uid']).default('random'), 'per-agent'),
  // The pod's UID (downward API `metadata.uid`): what DAN_AGENT_ID_FROM=pod-uid names the agent after.
  DAN_POD_UID: setting(() => z.string().regex(/^[0-9a-fA-F]{8}/, { error: "must begin with 8 hex digits, as a pod's UID does (fieldRef metadata.uid)" }).optional(), 'per-agent'),
  // uid:gid a container agent started as root switches to before anything else (lib/runtime/run-as.ts).
  DAN_RUN_AS: setting(() => z.string().regex(/^\d+:\d+$/, { error: 'must be uid:gid in digits, e.g. 1000:1000' }).optional(), 'per-agent'),
  // Listeners an isolated container's agent opens first: host:port=/socket/path, comma-separated.
  DAN_FORWARD: setting(() => z.string().optional().transform((text, ctx): ForwardSpec[] => {
    const parsed = parseForwards(text ?? '');
    if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
    return typeof parsed === 'string' ? [] : parsed;
  }), 'per-agent'),
} as const;

export type SettingName = keyof typeof SETTINGS;

/** The names of all settings, in the table's order. */
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** Every setting after parsing: defaults filled in, numbers coerced, host paths made absolute. */
export type Settings = { [K in SettingName]: z.output<ReturnType<(typeof SETTINGS)[K]['schema']>> };

/** One problem of a source of settings: the setting (and where inside its value), and what is wrong. */
export interface SettingProblem {
  path: string;
  message: string;
}

/**
 * Parses every setting of `source` (raw text by name, undefined when unset) with its own schema, built
 * for this call and dropped after it. Returns the parsed settings, or every problem at once, in the
 * table's order.
 */
export function parseSettings(source: Readonly<Record<string, string | undefined>>): { settings: Settings } | { problems: SettingProblem[] } {
  const parsed: Record<string, unknown> = {};
  const problems: SettingProblem[] = [];
  for (const name of SETTING_NAMES) {
    const result = SETTINGS[name].schema().safeParse(source[name]);
    if (result.success) parsed[name] = result.data;
    else for (const issue of result.error.issues) problems.push({ path: [name, ...issue.path.map(String)].join('.'), message: issue.message });
  }
  return problems.length > 0 ? { problems } : { settings: parsed as Settings };
}

/** The settings whose `agents` is `use`, in the table's order. */
export function settingsUsed(...uses: AgentUse[]): SettingName[] {
  return SETTING_NAMES.filter((name) => uses.includes(SETTINGS[name].agents));
}
