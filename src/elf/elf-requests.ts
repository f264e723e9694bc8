import { z } from 'zod';
import { InvalidInputError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { ElfRequest } from '../../lib/elf/elf-protocol.js';
import { memoryBlock } from '../../lib/elf/elf-context.js';
import type { ElfStores } from '../../lib/elf/elf-stores.js';
import { HEURISTIC_SOURCES, HEURISTIC_STATES, OUTCOME_STATUSES, type HeuristicSource } from '../../lib/elf/elf-types.js';

const id = z.coerce.number().int().positive();
const limit = z.coerce.number().int().positive().max(500).optional();
const files = z.array(z.string()).max(200).optional();

/** The arguments of every operation, checked before the memory is touched. */
const argSchemas = {
  context: z.object({
    domain: z.string(), task: z.string().max(50_000), files, task_id: z.string().optional(), worker: z.string().optional(),
    budget_tokens: z.coerce.number().int().positive().max(100_000).optional(), repository: z.string().max(1_000).optional(),
  }),
  injections: z.object({ task_id: z.string().min(1) }),
  search: z.object({ text: z.string().min(1).max(2_000), domain: z.string().optional(), limit, include_dormant: z.boolean().optional(), include_candidates: z.boolean().optional() }),
  query: z.object({
    text: z.string().min(1).max(2_000), domain: z.string().optional(), limit, files, repository: z.string().max(1_000).optional(),
    budget_tokens: z.coerce.number().int().positive().max(100_000).optional(),
  }),
  stats: z.object({}),
  heuristics: z.object({ domain: z.string().optional(), include_dormant: z.boolean().optional(), state: z.enum(HEURISTIC_STATES).optional(), limit }),
  golden: z.object({ domain: z.string().optional(), limit }),
  hotspots: z.object({ domain: z.string().optional(), repository: z.string().max(1_000).optional(), limit }),
  record_heuristic: z.object({ domain: z.string(), rule: z.string(), context: z.string().optional(), source: z.enum(HEURISTIC_SOURCES).default('person'), confidence: z.number().optional(), task_id: z.string().max(200).optional(), agent: z.string().max(100).optional() }),
  approve: z.object({ id }),
  reject: z.object({ id }),
  validate: z.object({ id, task_id: z.string().optional() }),
  violate: z.object({ id, task_id: z.string().optional() }),
  // From a model (source `model`, set by the MCP server and the worker tool) with a task: a claim the
  // task's outcome decides. From a person: applied at once, like validate and violate.
  contradict: z.object({
    id: id.optional(), rule: z.string().max(1_000).optional(), task_id: z.string().optional(), reason: z.string().max(2_000).optional(),
    source: z.enum(HEURISTIC_SOURCES).default('person'), agent: z.string().max(100).optional(),
  }),
  record_outcome: z.object({
    task_id: z.string().min(1), domain: z.string(), status: z.enum(OUTCOME_STATUSES), error: z.string().optional(), description: z.string().optional(),
    workers: z.array(z.string()).optional(), files_created: files, files_modified: files, files_read: files, duration_ms: z.number().nonnegative().optional(),
  }),
  record_plan: z.object({ task_id: z.string().optional(), domain: z.string(), description: z.string(), plan: z.string().min(1) }),
  record_postmortem: z.object({ task_id: z.string().min(1), domain: z.string(), error: z.string(), analysis: z.string().min(1), proposed_rules: z.array(z.string()).max(20).optional() }),
} as const;

function parseArgs<K extends keyof typeof argSchemas>(op: K, args: unknown): z.infer<(typeof argSchemas)[K]> {
  const parsed = argSchemas[op].safeParse(args);
  if (parsed.success) return parsed.data as z.infer<(typeof argSchemas)[K]>;
  throw new InvalidInputError(`${op}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'args'}: ${i.message}`).join('; ')}`);
}

/** Where a heuristic came from, as stored: `human`, `model:<task id>/<agent>` or `postmortem:<task id>`. */
export function originOf(source: HeuristicSource, taskId: string | undefined, agent: string | undefined): string {
  if (source === 'person') return 'human';
  return source === 'model' ? `model:${taskId ?? 'unknown-task'}/${agent ?? 'unknown-agent'}` : `postmortem:${taskId ?? 'unknown-task'}`;
}

/** Answers one request from the memory of its client. Errors carry the field and the reason. */
export async function handleElfRequest(request: ElfRequest, deps: { stores: ElfStores; logger: Logger }): Promise<unknown> {
  const memory = deps.stores.get(request.client_id);
  switch (request.op) {
    case 'context': {
      const a = parseArgs('context', request.args);
      return memory.buildContext({
        domain: a.domain, task: a.task, files: a.files ?? [], ...(a.budget_tokens ? { budgetTokens: a.budget_tokens } : {}),
        ...(a.task_id ? { taskId: a.task_id } : {}), ...(a.worker ? { worker: a.worker } : {}), ...(a.repository !== undefined ? { repository: a.repository } : {}),
      });
    }
    case 'injections': {
      const a = parseArgs('injections', request.args);
      return memory.injectionsFor(a.task_id);
    }
    case 'search': {
      const a = parseArgs('search', request.args);
      return memory.search(a.text, {
        ...(a.domain ? { domain: a.domain } : {}), ...(a.limit ? { limit: a.limit } : {}), ...(a.include_dormant ? { includeDormant: true } : {}),
        ...(a.include_candidates ? { includeCandidates: true } : {}),
      });
    }
    case 'query': {
      // What a worker of the domain would be given for this text (nothing recorded), then the search.
      const a = parseArgs('query', request.args);
      const context = memory.buildContext({
        domain: a.domain ?? '*', task: a.text, files: a.files ?? [], ...(a.budget_tokens ? { budgetTokens: a.budget_tokens } : {}),
        ...(a.repository !== undefined ? { repository: a.repository } : {}),
      });
      return {
        golden: memory.goldenRules(), context: { ...context, block: context.text === '' ? '' : memoryBlock(context.text) },
        ...memory.search(a.text, { ...(a.domain ? { domain: a.domain } : {}), limit: a.limit ?? 10 }),
      };
    }
    case 'stats':
      parseArgs('stats', request.args);
      return { client_id: request.client_id, ...memory.stats() };
    case 'heuristics': {
      const a = parseArgs('heuristics', request.args);
      return memory.listHeuristics({ ...(a.domain ? { domain: a.domain } : {}), ...(a.include_dormant ? { includeDormant: true } : {}), ...(a.state ? { state: a.state } : {}), ...(a.limit ? { limit: a.limit } : {}) });
    }
    case 'golden': {
      const a = parseArgs('golden', request.args);
      return memory.listHeuristics({ goldenOnly: true, ...(a.domain ? { domain: a.domain } : {}), ...(a.limit ? { limit: a.limit } : {}) });
    }
    case 'hotspots': {
      const a = parseArgs('hotspots', request.args);
      return memory.hotspots({ ...(a.domain ? { domain: a.domain } : {}), ...(a.repository !== undefined ? { repository: a.repository } : {}), ...(a.limit ? { limit: a.limit } : {}) });
    }
    case 'record_heuristic': {
      const a = parseArgs('record_heuristic', request.args);
      const { heuristic, created } = memory.recordHeuristic({
        domain: a.domain, rule: a.rule, source: a.source, origin: originOf(a.source, a.task_id, a.agent),
        ...(a.context ? { context: a.context } : {}), ...(a.confidence !== undefined ? { confidence: a.confidence } : {}),
      });
      deps.logger.info({ client: request.client_id, id: heuristic.id, domain: heuristic.domain, created, task: a.task_id }, created ? 'heuristic recorded' : 'heuristic already known');
      return { id: heuristic.id, confidence: heuristic.confidence, created, heuristic };
    }
    case 'approve':
    case 'reject': {
      const a = parseArgs(request.op, request.args);
      const heuristic = memory[request.op](a.id);
      deps.logger.info({ client: request.client_id, id: heuristic.id, domain: heuristic.domain, origin: heuristic.origin }, request.op === 'approve' ? 'heuristic approved' : 'candidate heuristic rejected');
      return heuristic;
    }
    case 'validate':
    case 'violate': {
      const a = parseArgs(request.op, request.args);
      return memory[request.op](a.id, a.task_id);
    }
    case 'contradict': {
      const a = parseArgs('contradict', request.args);
      if (a.source !== 'person') {
        if (!a.task_id) throw new InvalidInputError("contradict: a model names the task it works on (task_id); the task's outcome then decides");
        const heuristic = memory.claimContradiction({
          taskId: a.task_id, ...(a.id !== undefined ? { id: a.id } : {}), ...(a.rule !== undefined ? { rule: a.rule } : {}),
          ...(a.reason ? { reason: a.reason } : {}), origin: originOf('model', a.task_id, a.agent),
        });
        deps.logger.info({ client: request.client_id, id: heuristic.id, task: a.task_id }, 'contradiction claimed; the task outcome decides');
        return { applied: false, kind: 'contradiction', reason: 'pending_outcome', message: `heuristic ${heuristic.id} is contradicted if task ${a.task_id} completes`, heuristic };
      }
      if (a.id === undefined) throw new InvalidInputError("contradict: id is required (see 'dan elf heuristics')");
      return memory.contradict(a.id, a.task_id);
    }
    case 'record_outcome': {
      const a = parseArgs('record_outcome', request.args);
      const recorded = memory.recordOutcome({
        taskId: a.task_id, domain: a.domain, status: a.status, error: a.error ?? null, description: a.description ?? '',
        workers: a.workers ?? [], filesCreated: a.files_created ?? [], filesModified: a.files_modified ?? [], filesRead: a.files_read ?? [],
        durationMs: a.duration_ms ?? null,
      });
      return { recorded };
    }
    case 'record_plan': {
      const a = parseArgs('record_plan', request.args);
      return memory.recordPlan({ taskId: a.task_id ?? null, domain: a.domain, description: a.description, plan: a.plan });
    }
    case 'record_postmortem': {
      const a = parseArgs('record_postmortem', request.args);
      return memory.recordPostmortem({ taskId: a.task_id, domain: a.domain, error: a.error, analysis: a.analysis, proposedRules: a.proposed_rules ?? [] });
    }
  }
}
