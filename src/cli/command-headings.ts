/**
 * What `dan --help` lists: each top-level command's usage and one-line description, kept apart from
 * the command's module so the CLI names every command without loading any (src/cli/main.ts loads a
 * command's module only when it runs). Each command module spreads its heading into its definition.
 */
export interface CommandHeading {
  command: string;
  describe: string;
}

export const COMMAND_HEADINGS = {
  up: {
    command: 'up',
    describe: 'Run the main orchestrator here; domains start on demand as local processes or containers, or are started elsewhere and adopted (--spawner external)',
  },
  send: {
    command: 'send <domain> <description>',
    describe: 'Queue a task for a domain, or for main to route it',
  },
  run: {
    command: 'run <file>',
    describe: 'Run a workflow file: named steps with needs:, each a task that waits on the steps it needs',
  },
  status: {
    command: 'status <id>',
    describe: "Show a task's status, result and last log lines",
  },
  cancel: {
    command: 'cancel <ids..>',
    describe: 'Cancel tasks: each ends failed with error "cancelled", its running worker is stopped, its sub-tasks too',
  },
  retry: {
    command: 'retry <ids..>',
    describe: 'Run failed tasks again: a dead-lettered one from its dead letter under its own id, one that failed on an agent as a new task <id>.r1',
  },
  tasks: {
    command: 'tasks',
    describe: "List tasks, newest first, with filters (the same listing as the HTTP API's GET /jobs)",
  },
  diff: {
    command: 'diff <id>',
    describe: "A task's changes: the diff from the commit it started on to its work on branch dan/<id> (a routed task: each sub-task's)",
  },
  logs: {
    command: 'logs',
    describe: "Show the network's task log lines and its containers' output, merged in time order",
  },
  agents: {
    command: 'agents',
    describe: 'List registered agents and the work waiting per domain',
  },
  inspect: {
    command: 'inspect',
    describe: "Open Redis Commander on the network's Redis",
  },
  mockLlm: {
    command: 'mock-llm',
    describe: 'Run a local Messages API server with scripted answers (offline demos and tests)',
  },
  demo: {
    command: 'demo',
    describe: 'Run the whole network on this machine (private Redis, local scripted model) on one multi-domain task',
  },
  elf: {
    command: 'elf',
    describe: 'Read and teach the ELF memory: stats, heuristics, golden, search, hotspots, injections, record, validate, violate, contradict, approve, reject, mcp',
  },
  farm: {
    command: 'farm <action> [id] [agent]',
    describe: 'Agent farm: many agents on one git repository (start, status, attach, stop)',
  },
  deadLetter: {
    command: 'dead-letter',
    describe: 'Input the network dead-lettered, with the reason: list, show, retry, purge',
  },
  gateway: {
    command: 'gateway',
    describe: "List the model gateway's live tokens (id, agent, issued), or revoke an agent's",
  },
  cost: {
    command: 'cost',
    describe: 'What model calls cost (dollars, calls, unpriced calls), grouped by domain, client, model or day',
  },
  redisAcl: {
    command: 'redis-acl',
    describe: 'Print (or --out: write, mode 0640) the Redis ACL file of the network\'s users from REDIS_PASSWORD, REDIS_MAIN_PASSWORD, REDIS_AGENT_PASSWORD, REDIS_CLIENT_PASSWORD and REDIS_VIEWER_PASSWORD',
  },
  serve: {
    command: 'serve',
    describe: 'Run the HTTP API: POST /jobs, GET /jobs/{id}, cancel, /agents, /health, /ready, /openapi.json',
  },
  keys: {
    command: 'keys',
    describe: "Manage the HTTP API's keys (create, list, revoke)",
  },
  deploy: {
    command: 'deploy <target>',
    describe: 'Write the per-domain Kubernetes manifests (Deployment + KEDA ScaledObject) from the agent catalog: dan deploy k8s',
  },
  approve: {
    command: 'approve <id>',
    describe: 'Approve a task awaiting approval: it is queued again and runs',
  },
  reject: {
    command: 'reject <id>',
    describe: "Reject a task awaiting approval: it ends failed with code 'rejected' and the reason as its error",
  },
  webhooks: {
    command: 'webhooks',
    describe: 'Manage webhooks told of task state changes (add, list, remove, log)',
  },
} as const satisfies Record<string, CommandHeading>;
