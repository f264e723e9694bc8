import { z } from 'zod';
import { AGENT_ROLES, DOMAIN_NAME_PATTERN } from '../../lib/protocol/agent.js';
import { tokenUsageSchema } from '../../lib/protocol/result.js';
import { PRIORITIES, taskIdSchema, taskMetadataSchema, taskPayloadSchema } from '../../lib/protocol/task.js';
import { MAX_DEPENDENCIES, RUN_IF } from '../../lib/protocol/workflow.js';
import { checkRunSchema, reviewSchema } from './job-view-schemas.js';

/**
 * The HTTP API's request and response shapes. Fastify validates requests with them and the OpenAPI
 * document (/openapi.json) is generated from them, so the two cannot drift. Field rules a task already
 * has (timeout, attempts, requirements) are the protocol's own schemas, not copies.
 */

const jsonObject = z.record(z.string(), z.unknown());

/** A domain by the rule domain names are held to (they become key parts and agent ids). */
const domainSchema = z.string().regex(DOMAIN_NAME_PATTERN, { error: "must be 'main' or a domain name such as backend (lower-case letters, digits and '-', 40 at most)" });

/**
 * `POST /jobs`: the seed's body (`{"job_type": "echo", "payload": {...}}`) or dan's own (`domain`,
 * `description`, ...). Unknown fields are refused, `client_id` among them: a job's client is its key's.
 */
export const jobRequestSchema = z.strictObject({
  job_type: z.literal('echo', { error: "must be 'echo', the seed's job that returns its payload; send other work as {\"domain\", \"description\"}" })
    .optional().describe("The seed's form: 'echo' returns `payload` as the job's output, without any model"),
  payload: jsonObject.optional().describe('With job_type echo: the object the job returns'),
  domain: domainSchema.optional().describe("'main' (the default) routes the job across domains; a domain name sends it straight there"),
  description: z.string().optional().describe('What to do (required unless job_type is echo)'),
  priority: z.enum(PRIORITIES, { error: 'must be low, normal or high' }).optional(),
  timeout_seconds: taskMetadataSchema.shape.timeout_seconds.describe('Seconds before the job fails as timed out (default 300)'),
  context: jsonObject.optional().describe('Passed to the agents as payload.context'),
  requirements: taskPayloadSchema.shape.requirements,
  max_attempts: taskMetadataSchema.shape.max_attempts.describe('Attempts before a retryable failure is final (default DAN_MAX_ATTEMPTS)'),
  approval: taskMetadataSchema.shape.approval.describe('Wait in awaiting_approval before any work starts, until POST /jobs/{id}/approve or /reject decides'),
  approval_timeout_seconds: taskMetadataSchema.shape.approval_timeout_seconds.describe('Seconds it may await approval before it fails approval_timeout (default DAN_APPROVAL_WINDOW_MS)'),
  depends_on: z.array(z.string().max(200), { error: 'must be a list of task ids' }).min(1).max(MAX_DEPENDENCIES)
    .optional().describe("Ids of this client's jobs to wait for: the job stays 'waiting' until they have all ended, and fails with dependency_failed if one does not complete"),
  run_if: z.enum(RUN_IF, { error: 'must be success or always' }).optional()
    .describe("With depends_on: 'always' runs the job even when one it waits for failed or was cancelled (default 'success')"),
  budget_usd: taskMetadataSchema.shape.budget_usd.describe("Dollars the job's model calls may cost, its sub-tasks' included (above 0, at most 100000); a call past it is refused and the job fails with budget_exceeded"),
}).superRefine((body, ctx) => {
  if (body.job_type === undefined && (body.description === undefined || body.description.trim() === '')) {
    ctx.addIssue({ code: 'custom', path: ['description'], message: "is required: say what to do, or send the seed's {\"job_type\": \"echo\", \"payload\": {...}}" });
  }
  if (body.job_type === undefined && body.payload !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['payload'], message: 'goes with job_type echo; dan\'s own jobs take description and context' });
  }
}).meta({ id: 'JobRequest' });

export type JobRequest = z.infer<typeof jobRequestSchema>;

/** POST /jobs' headers; an Idempotency-Key is printable ASCII, as the IETF draft and the usual clients send it. */
export const jobHeadersSchema = z.looseObject({
  'idempotency-key': z.string().regex(/^[\x21-\x7e]{1,255}$/, { error: 'must be 1 to 255 printable ASCII characters, such as a UUID' }).optional()
    .describe('Any unique text per logical submit (a UUID): a retry with the same key answers the first job instead of queueing a second'),
});

export const jobIdParamsSchema = z.object({ id: taskIdSchema.describe('The job id POST /jobs answered') });

/** The seed's names of dan's statuses, for clients written against it. */
export const SEED_STATUS = { pending: 'QUEUED', in_progress: 'RUNNING', completed: 'SUCCEEDED', failed: 'FAILED' } as const;
export const seedStatusSchema = z.enum(['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED']);

export const jobAcceptedSchema = z.object({
  id: z.string(),
  status: seedStatusSchema,
  dan_status: z.string(),
  domain: z.string(),
  client: z.string(),
  location: z.string().describe('Where to read the job: GET it'),
  replayed: z.boolean().describe('true when an Idempotency-Key named a job sent before: this is that job, as it stands now'),
}).meta({ id: 'JobAccepted' });

export const subTaskSchema = z.object({
  id: z.string(),
  status: seedStatusSchema.nullable().describe('null while it is not queued yet'),
  dan_status: z.string(),
  error: z.string().nullable(),
});

/** Tokens, calls and dollars of a set of model calls (lib/redis/cost-counters.ts' CostFigures). */
export const costFiguresSchema = z.object({
  usd: z.number().describe('Dollars of the priced calls'),
  calls: z.number(),
  unpriced_calls: z.number().describe('Calls to models without a price: their cost is unknown and not in usd'),
  input_tokens: z.number(), output_tokens: z.number(), cache_creation_input_tokens: z.number(), cache_read_input_tokens: z.number(),
}).meta({ id: 'CostFigures' });

/** A job's cost as its result carries it: totals, per model and per worker, and the budget it was held to. */
export const jobCostSchema = costFiguresSchema.extend({
  by_model: z.record(z.string(), costFiguresSchema),
  by_worker: z.record(z.string(), costFiguresSchema),
  budget: z.object({ budget_usd: z.number(), spent_usd: z.number() }).optional(),
  budget_exceeded: z.object({ scope: z.string(), budget_usd: z.number(), spent_usd: z.number() }).optional(),
}).meta({ id: 'JobCost' });

export const jobSchema = z.object({
  id: z.string(),
  status: seedStatusSchema,
  dan_status: z.string().describe('pending, in_progress, completed or failed'),
  domain: z.string().nullable(),
  client: z.string(),
  output: jsonObject.nullable(),
  error: z.string().nullable(),
  failure_code: z.string().nullable().describe('Why it failed, from dan\'s list of failure codes (timeout, cancelled, ...)'),
  retryable: z.boolean().nullable(),
  attempts: z.number().nullable(),
  sub_tasks: z.array(subTaskSchema),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  retry_at: z.string().nullable(),
  tokens: tokenUsageSchema.nullable().describe("The model tokens the job used, its sub-tasks' included once it ended"),
  // The task page's verified-completion fields (from the output) and its cost.
  checks: z.array(checkRunSchema).nullable().describe('The checks it ran, every round (a verified task); [] when it had none; null when its output does not say'),
  review: reviewSchema.nullable().describe("The reviewer's last verdict; null when no reviewer ran"),
  reviews: z.array(reviewSchema).describe("Every round's review, in order"),
  cost: jobCostSchema.nullable().describe("What the job's model calls cost, its sub-tasks' included (output.cost_total), once it ended; null when no call was counted for it"),
  depends_on: z.array(z.string()).nullable().describe("The jobs it waits or waited on (depends_on, a workflow's needs); null for none"),
}).meta({ id: 'Job' });

export const cancelRequestSchema = z.strictObject({ reason: z.string().max(1000).optional().describe("Why, for the job's log") }).nullish();

export const cancelledSchema = z.object({
  id: z.string(),
  outcome: z.literal('cancelled'),
  was_running_on: z.string().nullable(),
  sub_tasks: z.array(z.string()).describe('Sub-tasks cancelled with it'),
}).meta({ id: 'Cancelled' });

export const healthSchema = z.object({ status: z.literal('ok') });
export const readySchema = z.object({ status: z.literal('ready'), main: z.string().describe('The main orchestrator registered') });

export const agentSchema = z.object({
  agent_id: z.string(),
  role: z.enum(AGENT_ROLES),
  domain_type: z.string(),
  status: z.string(),
  container_id: z.string(),
  created_at: z.string(),
  last_heartbeat: z.string(),
  pid: z.string().optional(),
  parent_agent: z.string().optional(),
  task_id: z.string().optional(),
  alive: z.boolean(),
  unexplained: z.boolean().describe('A live domain agent the running main neither started nor adopted'),
});

/** Where a domain's pending tasks wait; the four add up to `pending`. */
export const waitingSchema = z.object({
  incoming: z.number().describe('Sent, not yet sorted by priority'),
  high: z.number().describe('Ready to be claimed, priority high'),
  normal: z.number(),
  low: z.number(),
  delayed: z.number().describe('Waiting for a retry after a failed attempt'),
}).describe('The pending tasks by where they wait');

export const agentsSchema = z.object({
  agents: z.array(agentSchema),
  queues: z.array(z.object({ domain: z.string(), pending: z.number(), waiting: waitingSchema, running: z.number(), dead: z.number(), waiting_on_dependencies: z.number() })),
  start_failures: z.array(z.object({ domain: z.string(), agentId: z.string(), at: z.string(), reason: z.string(), lines: z.array(z.string()) })),
  model_pauses: z.array(z.object({ model: z.string(), remainingMs: z.number().describe('Milliseconds left of the pause') }))
    .describe('Models a 429 with retry-after paused for every agent: their calls wait and no new domain starts until the pause ends'),
  scaling: z.array(z.object({
    domain: z.string(),
    backlog: z.number().describe('Tasks waiting to be claimed, as the main orchestrator last counted them'),
    live: z.number().describe('Agents with a current heartbeat that the main orchestrator counts'),
    desired: z.number().describe('Agents the main orchestrator would want for the backlog: what an outside autoscaler scales to'),
    spawner: z.string().describe("The main orchestrator's spawner; 'external' starts none"),
    at: z.string().describe('When the main orchestrator published these numbers (they expire when it stops)'),
    waiting: z.string().optional().describe('Why tasks wait, when they wait for an agent nobody will start'),
  })).describe('Per domain, what the main orchestrator last published for scaling'),
}).meta({ id: 'Agents' });
