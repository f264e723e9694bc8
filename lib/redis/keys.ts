import type { Priority } from '../protocol/task.js';

/**
 * The keys named by one or more parts (a task id, a domain, an agent id; a farm id and a chunk id or
 * file), each declared once as a template whose `{}` are the parts in order. `Keys`' and `FarmKeys`'
 * methods fill them in TypeScript; `luaKeyTable()` turns the same templates into the Lua functions
 * (`KEY.result(id)`, `KEY.farmLock(farm, file)`) the scripts use for keys they only learn while running
 * (a lapsed lease's task, a chunk's files). Nothing else spells these names.
 */
export const KEY_TEMPLATES = {
  pending: 'tasks:pending:{}',
  active: 'tasks:active:{}',
  dead: 'tasks:dead:{}',
  result: 'results:{}',
  logs: 'results:{}:logs',
  notifications: 'notifications:{}',
  agentsOfDomain: 'agents:domains:{}',
  agentInfo: 'agents:info:{}',
  heartbeat: 'agents:heartbeat:{}',
  ingest: 'dan:ingest:{}',
  leases: 'dan:leases:{}',
  delayed: 'dan:delayed:{}',
  task: 'dan:task:{}',
  seen: 'dan:task:{}:seen',
  heldReuse: 'dan:task:{}:held-reuse',
  children: 'dan:children:{}',
  plan: 'dan:plan:{}',
  domainStart: 'dan:domain:{}:start',
  domainScaling: 'dan:domain:{}:scaling',
  farm: 'dan:farm:{}',
  farmQueue: 'dan:farm:{}:queue',
  farmLeases: 'dan:farm:{}:leases',
  farmChunk: 'dan:farm:{}:chunk:{}',
  farmLock: 'dan:farm:{}:lock:{}',
  farmAgent: 'dan:farm:{}:agent:{}',
  farmAgentLocks: 'dan:farm:{}:agent:{}:locks',
  farmAgentStream: 'dan:farm:{}:agent:{}:stream',
  farmEvents: 'dan:farm:{}:events',
  farmAgents: 'dan:farm:{}:agents',
  farms: 'dan:farms',
  agentsAll: 'agents:all',
  agentsDomains: 'agents:domains',
  agentsWorkers: 'agents:workers',
  agentsMain: 'agents:main',
  agentsSpawned: 'dan:agents:spawned',
  ready: 'dan:ready:{}:{}',
  cancelChannel: 'dan:cancel',
  events: 'dan:events',
  logStream: 'dan:logs',
  idCounter: 'dan:seq',
  elfRequests: 'dan:elf:requests',
  elfReplies: 'dan:elf:reply:{}',
  domainCatalog: 'dan:domains',
  apiRate: 'dan:api:rate:{}',
  apiOpen: 'dan:api:open:{}',
  gatewayTokens: 'dan:gateway:tokens',
  gatewayRevoked: 'dan:gateway:revoked',
  apiKeys: 'dan:api:keys',
  jobs: 'dan:jobs:{}',
  metricsTasks: 'dan:metrics:tasks',
  metricsTaskSeconds: 'dan:metrics:task-seconds',
  metricsDeadLetters: 'dan:metrics:dead-letters',
  metricsSpawns: 'dan:metrics:spawns',
  metricsModelCalls: 'dan:metrics:model-calls',
  modelRate: 'dan:model-rate:{}',
  modelPauses: 'dan:model-pauses',
  history: 'dan:history:{}',
  approvals: 'dan:approvals',
  approvalTasks: 'dan:approvals:tasks',
  webhooks: 'dan:webhooks',
  webhookDeliveries: 'dan:webhooks:deliveries',
  webhookDue: 'dan:webhooks:due',
  webhookLog: 'dan:webhooks:log:{}',
  waitRecord: 'dan:wait:{}',
  dependents: 'dan:dependents:{}',
  dependencyWaiters: 'dan:waiting:{}',
  budgetTask: 'dan:budget:task:{}',
  budgetClient: 'dan:budget:client:{}:{}',
  costTask: 'dan:cost:task:{}',
  costDay: 'dan:cost:day:{}',
} as const;

export type KeyTemplate = keyof typeof KEY_TEMPLATES;

/**
 * The keys only the main orchestrator writes, and what the `agent` Redis user (domain agents, ELF,
 * farm) may do with them: `none` (the gateway's token hashes: whoever can add one mints a token)
 * or `read`. Every other template is the agents' to read and write; lib/redis/acl.ts builds the
 * agent user's key patterns from this, so a new key family reaches agents by being a template.
 * A key marked here must lie outside every other template's pattern (a `{}` becomes `*`, which
 * spans `:`): tests/unit/agent-key-patterns.test.ts checks it.
 */
export const MAIN_ONLY_KEYS: Readonly<Partial<Record<KeyTemplate, 'none' | 'read'>>> = {
  gatewayTokens: 'none',
  gatewayRevoked: 'none',
  // The HTTP API's key hashes and clients: an agent that could add one would mint itself a key.
  apiKeys: 'none',
  // The API's per-key request counts and open jobs: only `dan serve` (main's user) keeps them.
  apiRate: 'none',
  apiOpen: 'none',
  agentsSpawned: 'read',
  // Counted by the main orchestrator's supervisor and model gateway; agents' task ends go to the other metrics keys.
  metricsSpawns: 'read',
  metricsModelCalls: 'read',
  // The shared model rate limit: the gateway and main's router keep it; an agent that wrote it could starve the others.
  modelRate: 'none',
  modelPauses: 'read',
  // What main publishes for an outside autoscaler: an agent that could write it could scale the network.
  domainScaling: 'read',
  // Webhook URLs and their signing secrets, and the deliveries main makes: agents never see a secret.
  webhooks: 'none',
  webhookDeliveries: 'none',
  webhookDue: 'none',
  webhookLog: 'none',
  // Written by the model gateway alone: an agent that could write them could lift its own budget or hide its spending.
  budgetTask: 'read',
  budgetClient: 'read',
  costTask: 'read',
  costDay: 'read',
};

/** One string per `{}` of a template, so a call with too few or too many parts does not compile. */
type PartsOf<T extends string> = T extends `${string}{}${infer Rest}` ? [string, ...PartsOf<Rest>] : [];
export type KeyParts<N extends KeyTemplate> = PartsOf<(typeof KEY_TEMPLATES)[N]>;

/** Each template cut at its `{}`s once, not on every key made (several per request and per task). */
const TEMPLATE_PIECES = {} as Record<KeyTemplate, readonly string[]>;
for (const name of Object.keys(KEY_TEMPLATES) as KeyTemplate[]) TEMPLATE_PIECES[name] = KEY_TEMPLATES[name].split('{}');

/** A template's key under `prefix` for its parts (an id, a domain; a farm id and a file). */
export function fillKey<N extends KeyTemplate>(prefix: string, name: N, ...parts: KeyParts<N>): string {
  // Joined piece by piece, as the Lua functions do: a part is never read as a replacement pattern.
  const pieces = TEMPLATE_PIECES[name];
  let key = prefix + (pieces[0] as string);
  for (let i = 1; i < pieces.length; i++) key += (parts[i - 1] as string) + (pieces[i] as string);
  return key;
}

/**
 * Lua source of `KEY`, a table with one function per template taking its parts in order, keys under
 * `prefixExpr` (a Lua expression, evaluated once). Generated, so the scripts never spell a key name.
 */
export function luaKeyTable(prefixExpr: string, only?: ReadonlySet<string>): string {
  const lua = (text: string): string => `'${text.replace(/[\\']/g, '\\$&')}'`;
  const lines = Object.entries(KEY_TEMPLATES).filter(([name]) => !only || only.has(name)).map(([name, template]) => {
    const pieces = template.split('{}');
    const params = pieces.length === 2 ? ['part'] : pieces.slice(1).map((_, i) => `part${i + 1}`);
    const concat = ['KEY_PREFIX'];
    pieces.forEach((piece, i) => {
      if (i > 0) concat.push(params[i - 1] as string);
      if (piece !== '') concat.push(lua(piece));
    });
    return `KEY.${name} = function(${params.join(', ')}) return ${concat.join(' .. ')} end`;
  });
  return [`local KEY_PREFIX = ${prefixExpr}`, 'local KEY = {}', ...lines].join('\n');
}

/**
 * Every Redis key the network touches, built in one place. The protocol keys (protocol.md) keep
 * their exact names; keys of our own live under `dan:`. A prefix (default empty) scopes a whole
 * network, for tenants and for tests that share one Redis.
 */
export class Keys {
  constructor(readonly prefix = '') {}

  // --- protocol.md: what outside clients read and write -------------------------------------
  pending(domain: string): string { return fillKey(this.prefix, 'pending', domain); }
  active(domain: string): string { return fillKey(this.prefix, 'active', domain); }
  dead(domain: string): string { return fillKey(this.prefix, 'dead', domain); }
  result(taskId: string): string { return fillKey(this.prefix, 'result', taskId); }
  logs(taskId: string): string { return fillKey(this.prefix, 'logs', taskId); }
  /** Pub/sub channel with the same name as the result hash. */
  resultChannel(taskId: string): string { return this.result(taskId); }
  notifications(domain: string): string { return fillKey(this.prefix, 'notifications', domain); }

  agentsAll(): string { return fillKey(this.prefix, 'agentsAll'); }
  agentsDomains(): string { return fillKey(this.prefix, 'agentsDomains'); }
  agentsOfDomain(domain: string): string { return fillKey(this.prefix, 'agentsOfDomain', domain); }
  agentsWorkers(): string { return fillKey(this.prefix, 'agentsWorkers'); }
  agentsMain(): string { return fillKey(this.prefix, 'agentsMain'); }
  agentInfo(agentId: string): string { return fillKey(this.prefix, 'agentInfo', agentId); }
  heartbeat(agentId: string): string { return fillKey(this.prefix, 'heartbeat', agentId); }

  // --- ours ---------------------------------------------------------------------------------
  /** SET of the domain agents the main orchestrator's spawner started or adopted, for `dan agents`. */
  agentsSpawned(): string { return fillKey(this.prefix, 'agentsSpawned'); }
  /** LIST: tasks moved off `tasks:pending` by a blocked consumer, not yet sorted by priority. */
  ingest(domain: string): string { return fillKey(this.prefix, 'ingest', domain); }
  /** LIST per priority: validated-as-JSON tasks waiting to be claimed, FIFO within a priority. */
  ready(domain: string, priority: Priority): string { return fillKey(this.prefix, 'ready', domain, priority); }
  /** ZSET task id -> lease expiry (ms since epoch) of tasks being worked on in a domain. */
  leases(domain: string): string { return fillKey(this.prefix, 'leases', domain); }
  /** ZSET task id -> when (ms since epoch) its next attempt is due, after a retryable failure. */
  delayed(domain: string): string { return fillKey(this.prefix, 'delayed', domain); }
  /**
   * Every list and set in which a domain's tasks wait to be claimed, whose lengths sum to its queue
   * depth (DAN_MAX_QUEUE_DEPTH): `tasks:pending`, the ingest list, the three ready lists and the delayed set.
   */
  waiting(domain: string): { pending: string; ingest: string; readyHigh: string; readyNormal: string; readyLow: string; delayed: string } {
    return {
      pending: this.pending(domain), ingest: this.ingest(domain), readyHigh: this.ready(domain, 'high'),
      readyNormal: this.ready(domain, 'normal'), readyLow: this.ready(domain, 'low'), delayed: this.delayed(domain),
    };
  }
  /** HASH per taken task: raw, domain, owner, token, attempts, max_attempts, priority, started_at, history. */
  task(taskId: string): string { return fillKey(this.prefix, 'task', taskId); }
  /** What every `results:{id}` key (and channel) starts with, for scans and pattern subscriptions. */
  resultPrefix(): string { return fillKey(this.prefix, 'result', ''); }
  /** SET of the sub-task ids a task queued, so cancelling it reaches them. */
  children(taskId: string): string { return fillKey(this.prefix, 'children', taskId); }
  /** Channel on which a cancelled task's id is published, so the agent running it aborts its worker. */
  cancelChannel(): string { return fillKey(this.prefix, 'cancelChannel'); }
  /** STRING: the plan the main orchestrator made for a task, so a restarted main resumes it unchanged. */
  plan(taskId: string): string { return fillKey(this.prefix, 'plan', taskId); }
  /** STREAM of task lifecycle events (finished, dead-lettered); what ELF and dashboards follow. */
  events(): string { return fillKey(this.prefix, 'events'); }
  /** STREAM of every task log line with its task, agent and domain, for `dan logs --follow`. */
  logStream(): string { return fillKey(this.prefix, 'logStream'); }
  /** Counter behind ids the queue assigns to tasks that came without one. */
  idCounter(): string { return fillKey(this.prefix, 'idCounter'); }
  /** Requests to the ELF memory (a list; the ELF process pops them). */
  elfRequests(): string { return fillKey(this.prefix, 'elfRequests'); }
  /** Channel on which ELF publishes the replies to one caller. */
  elfReplies(callerId: string): string { return fillKey(this.prefix, 'elfReplies', callerId); }
  /** HASH domain -> JSON of the domains the main orchestrator knows (for `dan send` validation). */
  domainCatalog(): string { return fillKey(this.prefix, 'domainCatalog'); }
  /** HASH of a domain's last start failure (at, agent, reason, lines), expiring; gone once an agent is ready. */
  domainStart(domain: string): string { return fillKey(this.prefix, 'domainStart', domain); }
  /** HASH of what the main orchestrator last saw of a domain (backlog, live and desired agents, spawner), expiring. */
  domainScaling(domain: string): string { return fillKey(this.prefix, 'domainScaling', domain); }
  /** STRING: requests an API key made in its current minute-long window, expiring with the window. */
  apiRate(keyId: string): string { return fillKey(this.prefix, 'apiRate', keyId); }
  /** ZSET task id -> ms sent: an API key's jobs not known to have ended (pruned when read). */
  apiOpen(keyId: string): string { return fillKey(this.prefix, 'apiOpen', keyId); }

  /** HASH sha256(token) -> JSON {agentId, issuedAt, standing?}: the model gateway's live tokens, never the tokens themselves. */
  gatewayTokens(): string { return fillKey(this.prefix, 'gatewayTokens'); }
  /** SET of sha256(token) of standing tokens revoked with `dan gateway --revoke`: a main that starts never registers them again. */
  gatewayRevoked(): string { return fillKey(this.prefix, 'gatewayRevoked'); }
  /** HASH sha256(key) -> JSON {client, role, createdAt, label?}: the HTTP API's keys (`dan keys`), never the keys themselves. */
  apiKeys(): string { return fillKey(this.prefix, 'apiKeys'); }

  /** ZSET task id -> when it was sent (ms since the epoch): one client's tasks, for `GET /jobs` and `dan tasks`. */
  jobs(client: string): string { return fillKey(this.prefix, 'jobs', client); }

  // --- metrics (lib/redis/task-metrics.ts): counted where things happen, read at scrape time ---
  /** HASH `domain\tstatus\tfailure code` -> tasks that ended so, counted by the scripts' one task-end step. */
  metricsTasks(): string { return fillKey(this.prefix, 'metricsTasks'); }
  /** HASH `domain\tstatus\tb<n>|sum_ms` -> the run-time histogram of ended tasks (bucket counts not cumulative). */
  metricsTaskSeconds(): string { return fillKey(this.prefix, 'metricsTaskSeconds'); }
  /** HASH `domain\tfailure code` -> raw items moved into `tasks:dead:{domain}`. */
  metricsDeadLetters(): string { return fillKey(this.prefix, 'metricsDeadLetters'); }
  /** HASH `domain\tstarted|failed` -> domain agents the supervisor spawned, and starts that failed. */
  metricsSpawns(): string { return fillKey(this.prefix, 'metricsSpawns'); }
  /** HASH `calls|tokens|seconds\t...` -> model calls through the gateway: calls, tokens by kind, duration histogram. */
  metricsModelCalls(): string { return fillKey(this.prefix, 'metricsModelCalls'); }
  /** ZSET `{id}|{input}|{output}` -> Redis time (ms) of a model call admitted by the shared rate limit, one per model (lib/redis/model-rate-limit.ts). */
  modelRate(model: string): string { return fillKey(this.prefix, 'modelRate', model); }
  /** HASH model -> Redis time (ms) until which a 429 with `retry-after` paused every agent's calls to it. */
  modelPauses(): string { return fillKey(this.prefix, 'modelPauses'); }
  /** HASH of one hour of history (`start` in s since the epoch): per domain, tasks ended completed and failed and their run-time buckets; expiring. */
  history(start: string): string { return fillKey(this.prefix, 'history', start); }

  // --- approval gates (lib/redis/approvals.ts) and webhooks (lib/redis/webhooks.ts) ---------
  /** ZSET task id -> when (ms since the epoch) its approval window ends: the tasks awaiting approval. */
  approvals(): string { return fillKey(this.prefix, 'approvals'); }
  /** HASH task id -> JSON {raw, domain, priority} of each task awaiting approval: what is queued again once approved. */
  approvalTasks(): string { return fillKey(this.prefix, 'approvalTasks'); }
  /** HASH webhook id -> JSON {id, url, secret, events, createdAt}. */
  webhooks(): string { return fillKey(this.prefix, 'webhooks'); }
  /** HASH delivery id -> JSON {webhookId, event, body, attempts}: deliveries not yet done. */
  webhookDeliveries(): string { return fillKey(this.prefix, 'webhookDeliveries'); }
  /** ZSET delivery id -> when (ms since the epoch) its next attempt is due (or its current attempt's lease ends). */
  webhookDue(): string { return fillKey(this.prefix, 'webhookDue'); }
  /** LIST of a webhook's latest deliveries (JSON, newest first, bounded). */
  webhookLog(webhookId: string): string { return fillKey(this.prefix, 'webhookLog', webhookId); }
  // --- dependencies (lib/redis/task-dependencies.ts) ---------------------------------------
  /**
   * HASH of a task that waits on others (status `waiting`): raw, domain, remaining (dependencies not
   * ended yet), run_if (`success` | `always`), kind (`task` | `workflow`), failed (names of those that
   * failed). Deleted when the task is released or fails.
   */
  waitRecord(taskId: string): string { return fillKey(this.prefix, 'waitRecord', taskId); }
  /** SET of the waiting tasks that depend on a task; read and deleted by the script that ends it. */
  dependents(taskId: string): string { return fillKey(this.prefix, 'dependents', taskId); }
  /**
   * SET of a domain's tasks in status `waiting` (each with a wait record; workflows are not counted):
   * what the views count apart from the queue depth, since none of them can be claimed yet.
   */
  dependencyWaiters(domain: string): string { return fillKey(this.prefix, 'dependencyWaiters', domain); }
  // --- cost and budgets (lib/redis/budgets.ts, lib/redis/cost-counters.ts): written by the model gateway ---
  /** HASH of a task's budget: limit, spent and reserved micro-dollars, whether its 80% warning was logged; expiring. */
  budgetTask(taskId: string): string { return fillKey(this.prefix, 'budgetTask', taskId); }
  /** HASH of a client's budget for one UTC day (`YYYY-MM-DD`), as budgetTask; expiring. */
  budgetClient(client: string, day: string): string { return fillKey(this.prefix, 'budgetClient', client, day); }
  /** HASH of what a task's own model calls cost and used, in total, per model and per worker; expiring. */
  costTask(taskId: string): string { return fillKey(this.prefix, 'costTask', taskId); }
  /** HASH of one UTC day's model-call cost per client, domain and model (micro-dollars, calls, unpriced calls); expiring. */
  costDay(day: string): string { return fillKey(this.prefix, 'costDay', day); }

  /** Glob for every pending queue, to find pushes to domains nobody serves. */
  pendingPattern(): string { return `${this.pending('')}*`; }
  domainFromPending(key: string): string { return key.slice(this.pending('').length); }
}
