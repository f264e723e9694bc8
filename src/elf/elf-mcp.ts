import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { packageRoot } from '../../lib/config.js';
import { DanError } from '../../lib/errors.js';
import type { ElfOp } from '../../lib/elf/elf-protocol.js';
import { OUTCOME_STATUSES } from '../../lib/elf/elf-types.js';
import type { Logger } from '../../lib/logger.js';

/** What the MCP server needs of `ElfClient`: one call per tool. */
export interface ElfCaller {
  call<T = unknown>(op: ElfOp, args?: Record<string, unknown>, options?: { clientId?: string; timeoutMs?: number }): Promise<T>;
}

export interface ElfMcpOptions {
  elf: ElfCaller;
  /** Whose memory the tools read and write (`--client` / `DAN_ELF_CLIENT`). */
  clientId: string;
  timeoutMs: number;
  logger: Logger;
  /** The worker whose lessons this server records (their origin); `claude-code` when unknown. */
  agent?: string;
  /** The task the worker works on: its lessons and contradictions are recorded under it, whatever the model sends. */
  taskId?: string;
}

export interface ElfMcpRunOptions extends ElfMcpOptions {
  /** The protocol streams; the process's stdin and stdout by default. */
  stdin?: Readable;
  stdout?: Writable;
  /** Aborting it closes the server (the command aborts on SIGINT and SIGTERM). */
  signal?: AbortSignal;
}

const id = z.number().int().positive().describe('Heuristic id');
const taskId = z.string().optional().describe('Task this concerns: a task credits a heuristic once');
const domain = z.string().describe("Domain name (backend, frontend, ...), or '*' for every domain");
const limit = z.number().int().positive().max(500).optional().describe('At most this many results');
const files = z.array(z.string()).optional();

/**
 * The tools, each forwarded to one ELF operation. The schemas give types and descriptions; ELF
 * checks ranges and lengths itself, so a refused value comes back with ELF's own message.
 */
const TOOLS = {
  elf_query: {
    op: 'query',
    description: 'Ask the memory what a worker of a domain would be given for this work: the golden rules, the memory block '
      + '(golden rules, relevant lessons, similar failures, hot files of the repository) exactly as a prompt carries it, then matching rules and past tasks.',
    input: {
      text: z.string().describe('The task, a question or keywords'), domain: domain.optional(), limit, files: files.describe('Files the work is about'),
      repository: z.string().optional().describe("The repository worked in, as the task's context.path or context.workspace names it"),
    },
  },
  elf_search: {
    op: 'search',
    description: 'Full-text search over heuristics (relevance times confidence) and past task outcomes.',
    input: { text: z.string().describe('Search text'), domain: domain.optional(), limit, include_dormant: z.boolean().optional().describe('Also rules below confidence 0.2') },
  },
  elf_record_heuristic: {
    op: 'record_heuristic',
    description: 'Propose a rule learned from work in a domain. It is kept as a candidate, shown to later tasks only once a person approves it. A rule already known (same text) returns its id.',
    input: {
      domain, rule: z.string().describe('The rule, one or two sentences (at most 500 characters)'),
      context: z.string().optional().describe('When or why the rule applies'),
      confidence: z.number().optional().describe('Initial confidence from 0 to 1 (default 0.5)'),
      task_id: taskId,
    },
  },
  elf_record_outcome: {
    op: 'record_outcome',
    description: 'Record how a task ended; the files it touched leave trails (hotspots). Once per task id.',
    input: {
      task_id: z.string().describe('Task id'), domain, status: z.enum(OUTCOME_STATUSES),
      error: z.string().optional(), description: z.string().optional(), workers: z.array(z.string()).optional(),
      files_created: files, files_modified: files, files_read: files, duration_ms: z.number().nonnegative().optional(),
    },
  },
  elf_validate_heuristic: {
    op: 'validate',
    description: 'A heuristic helped: confidence c becomes c + 0.1(1 - c). At most 5 updates a day, once per task.',
    input: { id, task_id: taskId },
  },
  elf_violate_heuristic: {
    op: 'violate',
    description: 'A heuristic misled: confidence c becomes c - 0.1c. At most 5 updates a day, once per task.',
    input: { id, task_id: taskId },
  },
  elf_contradict_heuristic: {
    op: 'contradict',
    description: 'A rule you were shown did not hold for your task: name it by id or by its text. It is lowered '
      + '(c becomes c - 0.15c) only if your task then completes; if it fails, nothing changes.',
    input: {
      id: id.optional(), rule: z.string().optional().describe('The rule as your memory block shows it, when you have no id'),
      task_id: z.string().optional().describe('The task you are working on (set for you when dan runs this server for a worker)'), reason: z.string().optional().describe('Why it did not hold'),
    },
  },
  elf_record_plan: {
    op: 'record_plan',
    description: 'Record the plan made for a task.',
    input: { task_id: taskId, domain, description: z.string().describe('The task'), plan: z.string().describe('The plan') },
  },
  elf_record_postmortem: {
    op: 'record_postmortem',
    description: 'Record why a task failed; each proposed rule becomes a heuristic of the domain.',
    input: {
      task_id: z.string().describe('The failed task'), domain, error: z.string(), analysis: z.string(),
      proposed_rules: z.array(z.string()).optional().describe('Rules that would have avoided the failure'),
    },
  },
  elf_stats: {
    op: 'stats',
    description: 'Counts of the memory: outcomes by status, heuristics, golden, dormant, trails, injections, database size.',
    input: {},
  },
} as const satisfies Record<string, { op: ElfOp; description: string; input: z.ZodRawShape }>;

export type ElfMcpToolName = keyof typeof TOOLS;
export const ELF_MCP_TOOLS = Object.keys(TOOLS) as ElfMcpToolName[];

/**
 * What a server run for one worker's task (`--task`) offers: reading memory, proposing a lesson and
 * claiming a contradiction, each of which only its task's outcome can turn into a change. Recording
 * outcomes, plans and postmortems, and raising or lowering a rule outright, are the network's and a
 * person's: a model given them could settle another task's outcome first or push a rule up itself.
 */
export const ELF_MCP_WORKER_TOOLS: readonly ElfMcpToolName[] = ['elf_query', 'elf_search', 'elf_record_heuristic', 'elf_contradict_heuristic', 'elf_stats'];

/** The MCP server with its ELF tools registered (a worker's set when it serves one task), not yet connected to a transport. */
export function createElfMcpServer(options: ElfMcpOptions): McpServer {
  const server = new McpServer({ name: 'dan-elf', version: packageVersion() });
  for (const name of options.taskId ? ELF_MCP_WORKER_TOOLS : ELF_MCP_TOOLS) {
    const tool = TOOLS[name];
    server.registerTool(name, { description: tool.description, inputSchema: tool.input as z.ZodRawShape }, async (args: Record<string, unknown>) => {
      // Whatever the caller sends, a rule recorded here is a model's (a candidate): a model cannot
      // present its own lesson as a person's and have it injected into other tasks' prompts.
      // Likewise a contradiction from here is a model's claim, which the task's outcome decides.
      const byModel = name === 'elf_record_heuristic' || name === 'elf_contradict_heuristic';
      const forwarded = byModel ? { ...args, ...(options.taskId ? { task_id: options.taskId } : {}), source: 'model', agent: options.agent ?? 'claude-code' } : args;
      return forward(options, name, tool.op, forwarded);
    });
  }
  return server;
}

async function forward(options: ElfMcpOptions, name: string, op: ElfOp, args: Record<string, unknown>): Promise<CallToolResult> {
  try {
    const result = await options.elf.call(op, args, { clientId: options.clientId, timeoutMs: options.timeoutMs });
    return { content: [{ type: 'text', text: JSON.stringify(result, null, 2) }] };
  } catch (error) {
    const message = errorText(error, op, options.timeoutMs);
    options.logger.info({ tool: name, err: message }, 'ELF tool call refused');
    return { isError: true, content: [{ type: 'text', text: message }] };
  }
}

function errorText(error: unknown, op: ElfOp, timeoutMs: number): string {
  if (error instanceof DanError && error.code === 'elf_timeout') {
    return `the ELF memory is not running (no answer to '${op}' within ${timeoutMs} ms): 'dan up' starts it unless DAN_ELF=off`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Serves the tools over stdio until the input ends, the transport closes or `signal` aborts.
 * Only protocol messages go to `stdout`; logs go to the logger (stderr).
 */
export async function runElfMcpServer(options: ElfMcpRunOptions): Promise<void> {
  const stdin = options.stdin ?? process.stdin;
  const server = createElfMcpServer(options);
  const transport = new StdioServerTransport(stdin, options.stdout ?? process.stdout);
  let finish: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => { finish = resolve; });
  transport.onclose = () => finish();
  // The transport does not watch for the end of its input: a client that closes stdin is gone.
  stdin.once('end', () => finish());
  stdin.once('close', () => finish());
  options.signal?.addEventListener('abort', () => finish(), { once: true });
  await server.connect(transport);
  options.logger.info({ client: options.clientId, tools: ELF_MCP_TOOLS.length }, 'ELF MCP server ready on stdio');
  await closed;
  await server.close().catch(() => undefined);
}

function packageVersion(): string {
  try {
    const parsed = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
    return typeof parsed.version === 'string' ? parsed.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}
