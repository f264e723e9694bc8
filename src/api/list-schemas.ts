import { z } from 'zod';
import { DOMAIN_NAME_PATTERN } from '../../lib/protocol/agent.js';
import { CLIENT_ID_PATTERN } from '../../lib/protocol/client-id.js';
import { taskIdSchema } from '../../lib/protocol/task.js';
import { MAX_LIMIT } from '../operations/list-tasks.js';
import { seedStatusSchema, waitingSchema } from './api-schemas.js';

/** Shapes of the listing routes (GET /jobs, /dead-letters, /domains, /agents/{id}, retries). */

const domainSchema = z.string().regex(DOMAIN_NAME_PATTERN, { error: "must be 'main' or a domain name such as backend" });

export const jobListQuerySchema = z.strictObject({
  status: z.string().max(200).optional().describe('QUEUED, RUNNING, SUCCEEDED, FAILED or waiting, pending, in_progress, completed, failed, awaiting_approval; several with commas'),
  domain: domainSchema.optional().describe('Only jobs sent to or routed to this domain'),
  parent: taskIdSchema.optional().describe('Only the sub-tasks of this job'),
  since: z.string().max(64).optional().describe('Only jobs sent at or after this ISO time'),
  until: z.string().max(64).optional().describe('Only jobs sent at or before this ISO time'),
  q: z.string().max(500).optional().describe('Only jobs whose description holds this text (case ignored; the first 1000 characters are searched)'),
  client: z.string().regex(CLIENT_ID_PATTERN, { error: "must be a client id: 1 to 64 letters, digits, '_' or '-'" }).optional()
    .describe("Admin keys only (others: 403): this client's jobs instead of the key's own client's"),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(20).describe(`Jobs per page, 1 to ${MAX_LIMIT}`),
  cursor: z.string().max(400).optional().describe('next_cursor of the previous page'),
});

export const jobListSchema = z.object({
  jobs: z.array(z.object({
    id: z.string(),
    status: seedStatusSchema,
    dan_status: z.string(),
    client: z.string(),
    domain: z.string().nullable(),
    parent: z.string().nullable(),
    description: z.string().nullable().describe('Its first 1000 characters'),
    sent_at: z.string(),
    started_at: z.string().nullable(),
    completed_at: z.string().nullable(),
    error: z.string().nullable(),
    failure_code: z.string().nullable(),
    attempts: z.number().nullable(),
  })),
  next_cursor: z.string().nullable().describe('Pass as ?cursor= for the next page; null when there are no older jobs. A page may hold fewer jobs than the limit and still have one: it looks at 1000 jobs at most'),
}).meta({ id: 'JobList' });

export const jobRetriedSchema = z.object({
  id: z.string().describe('The job that now runs: the same id when it was queued again from its dead letter, else the new job'),
  status: seedStatusSchema,
  dan_status: z.string(),
  domain: z.string().describe('The queue it went on'),
  dead_letter: z.string().nullable().describe('The dead letter it was queued again from; null when it was sent again as a new job'),
  retry_of: z.string().describe('The failed job this retries'),
  location: z.string().describe('Where to read the job that now runs'),
}).meta({ id: 'JobRetried' });

export const deadLetterSchema = z.object({
  ref: z.string().describe("What names it in the routes below: its id, or '{domain}:{index}' for older entries"),
  id: z.string().nullable(),
  domain: z.string(),
  index: z.number(),
  dead_lettered_at: z.string().nullable(),
  task_id: z.string().nullable(),
  reason: z.string(),
  raw: z.string().describe('The input as it was received, with secrets the logger would redact replaced by [redacted]'),
  envelope: z.boolean(),
}).meta({ id: 'DeadLetter' });

export const deadLetterListQuerySchema = z.strictObject({
  domain: domainSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

export const deadLetterListSchema = z.object({
  total: z.number().describe('Entries the caller may see, before the limit'),
  entries: z.array(deadLetterSchema),
}).meta({ id: 'DeadLetterList' });

export const deadLetterRefParamsSchema = z.object({ ref: z.string().min(1).max(200).describe("A dead letter's ref, or the task id it carries") });

export const deadLetterRetryBodySchema = z.strictObject({
  to: domainSchema.optional().describe('Queue it on this domain (main: let the main orchestrator route it) instead of the one it was sent to'),
}).nullish();

export const deadLetterRetriedSchema = z.object({
  ref: z.string(),
  from: z.string(),
  to: z.string(),
  task_id: z.string().nullable(),
}).meta({ id: 'DeadLetterRetried' });

export const purgeBodySchema = z.strictObject({
  refs: z.array(z.string().min(1).max(200)).max(1000).optional().describe('Entries to delete'),
  all: z.boolean().optional().describe('Delete every entry (of `domain`, or of every domain)'),
  domain: domainSchema.optional().describe('With all: only this domain'),
}).refine((b) => (b.all === true) !== (b.refs !== undefined && b.refs.length > 0), { message: 'send refs (the entries to delete) or all: true, one of them' })
  .refine((b) => b.domain === undefined || b.all === true, { message: 'domain goes with all: true' });

export const purgedSchema = z.object({ deleted: z.number(), refs: z.array(z.string()) }).meta({ id: 'Purged' });

export const domainsSchema = z.object({
  domains: z.array(z.object({
    domain: z.string(),
    pending: z.number().describe('Waiting: queued, sorted by priority, or delayed for a retry'),
    waiting: waitingSchema,
    running: z.number().describe('Held by an agent right now'),
    dead: z.number().describe('Entries in its dead-letter list (of every client)'),
    waiting_on_dependencies: z.number().describe('Tasks in status waiting on the tasks they depend on: in no queue, not in pending, and no reason to start an agent'),
  })),
}).meta({ id: 'Domains' });

export const agentIdParamsSchema = z.object({ id: z.string().min(1).max(200) });
