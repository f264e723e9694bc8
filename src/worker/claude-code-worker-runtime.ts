import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../lib/config.js';
import { packageRoot, resolveModel } from '../../lib/config.js';
import { DanError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { parseModelJson } from '../../lib/agents/model-json.js';
import { workerAnswerSchema } from '../../lib/llm/final-answer.js';
import { walkFiles } from '../../lib/llm/tools/walk-files.js';
import { emptyUsage } from '../../lib/protocol/result.js';
import { TASK_HEADER, WORKER_HEADER } from '../../lib/llm/attribution-headers.js';
import { readLines } from '../../lib/spawner/output-lines.js';
import { taskWorkspace } from '../../lib/workspace/task-workspace.js';
import { workerPrompt, workerSystemPrompt } from './worker-prompt.js';
import type { EditGuard, WorkerJob, WorkerResult, WorkerRuntime } from './worker-runtime.js';
import { turnEvent } from './worker-runtime.js';
import { WorkspaceJail } from '../../lib/workspace/workspace-jail.js';

/** An MCP server the CLI starts for the worker (stdio). */
export interface McpServer {
  command: string;
  args: string[];
  env: Record<string, string>;
}

export interface ClaudeCodeRuntimeOptions {
  config: Pick<Config, 'llm' | 'workspace' | 'workspaceRoots' | 'claudePath'>;
  logger: Logger;
  /** What tells the CLI where its model is: ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY. */
  modelEnv: Record<string, string>;
  /**
   * The ELF memory's MCP server, given to every worker of a task while ELF is on; it records the
   * worker's lessons and contradictions under this task and worker.
   */
  elfMcp?: (clientId: string, worker: { taskId: string; agent: string }) => McpServer;
  /** The `claude` program; default: DAN_CLAUDE_PATH, the package's own, else `claude` on the PATH. */
  claudePath?: string;
}

interface StreamEvent {
  type?: string;
  subtype?: string;
  message?: {
    content?: Array<{ type?: string; id?: string; tool_use_id?: string; name?: string; input?: Record<string, unknown>; text?: string; content?: unknown; is_error?: boolean }>;
    usage?: { input_tokens?: number; output_tokens?: number; cache_creation_input_tokens?: number; cache_read_input_tokens?: number };
  };
  result?: string;
  is_error?: boolean;
  num_turns?: number;
  usage?: { input_tokens?: number; output_tokens?: number; cache_creation_input_tokens?: number; cache_read_input_tokens?: number };
  mcp_servers?: Array<{ name: string; status: string }>;
}

/** Where the Claude Code CLI is: DAN_CLAUDE_PATH, this package's dependency, else `claude` on the PATH. */
export function findClaude(env: NodeJS.ProcessEnv = process.env): string {
  if (env['DAN_CLAUDE_PATH']) return env['DAN_CLAUDE_PATH'];
  const local = path.join(packageRoot(), 'node_modules', '.bin', 'claude');
  return existsSync(local) ? local : 'claude';
}

/**
 * A worker run by the Claude Code CLI, headless (`claude -p` with stream-json output, so every tool
 * call is an event we read): the worker's definition is appended to its system prompt, the task is
 * the prompt, its working directory is the task's workspace, and the ELF memory is one of its MCP
 * servers. The files it created and changed are found by comparing the workspace before and after.
 */
export class ClaudeCodeWorkerRuntime implements WorkerRuntime {
  readonly name = 'claude-code';
  private readonly claude: string;
  private readonly home: string;

  constructor(private readonly options: ClaudeCodeRuntimeOptions) {
    // DAN_CLAUDE_PATH from the agent's config, not this process's environment: agents run in process share one.
    this.claude = options.claudePath ?? options.config.claudePath ?? findClaude();
    // The CLI keeps settings and sessions under HOME; each domain process gets a folder of its own.
    this.home = mkdtempSync(path.join(os.tmpdir(), 'dan-claude-home-'));
  }

  async run(job: WorkerJob): Promise<WorkerResult> {
    const { config, logger } = this.options;
    const jail = job.workspace ? new WorkspaceJail(job.workspace) : taskWorkspace(config.workspace, job.task, config.workspaceRoots);
    const model = resolveModel(config, job.worker.model);
    const before = await snapshot(jail.root);
    const clientId = typeof job.task.metadata['client_id'] === 'string' ? job.task.metadata['client_id'] : 'default';
    const mcp = job.recordHeuristic && this.options.elfMcp ? this.options.elfMcp(clientId, { taskId: job.task.taskId, agent: job.worker.name }) : undefined;
    const args = [
      '-p', job.prompt ?? workerPrompt(job.task, job.prior, job.memory),
      '--output-format', 'stream-json', '--verbose',
      '--permission-mode', 'acceptEdits',
      '--model', model,
      '--max-turns', String(config.llm.maxTurns),
      '--append-system-prompt', workerSystemPrompt(job.domain, job.worker, jail.root),
      ...(mcp ? ['--mcp-config', mcpConfigFile(this.home, mcp), '--allowedTools', 'mcp__elf__elf_record_heuristic,mcp__elf__elf_contradict_heuristic,mcp__elf__elf_search,mcp__elf__elf_query'] : []),
      ...(job.editGuard ? guardArgs(job.editGuard) : []),
    ];
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: this.home,
      ...this.options.modelEnv,
      ...job.editGuard?.hook.env,
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      // Tools of MCP servers go into every request, instead of behind a search the model must think of.
      ENABLE_TOOL_SEARCH: 'false',
      // Names the task and worker on every model call, so the gateway prices it to them and holds it to the task's budget.
      ANTHROPIC_CUSTOM_HEADERS: `${TASK_HEADER}: ${job.task.taskId}\n${WORKER_HEADER}: ${job.worker.name}`,
    };
    const events = await this.runCli(args, jail.root, env, job);
    const result = events.findLast((e) => e.type === 'result');
    if (!result) throw new DanError('worker_failed', `the Claude Code CLI ended without a result: ${events.length} events read`);
    if (result.is_error) throw new DanError('worker_failed', `the Claude Code CLI reported an error: ${result.result ?? result.subtype ?? 'unknown'}`);
    const after = await snapshot(jail.root);
    const created = [...after.keys()].filter((f) => !before.has(f)).sort();
    const modified = [...after.keys()].filter((f) => before.has(f) && before.get(f) !== after.get(f)).sort();
    const text = result.result ?? '';
    const json = parseModelJson(text);
    const answer = json.ok ? workerAnswerSchema.safeParse(json.value) : undefined;
    const usage = { ...emptyUsage(), input_tokens: result.usage?.input_tokens ?? 0, output_tokens: result.usage?.output_tokens ?? 0,
      cache_creation_input_tokens: result.usage?.cache_creation_input_tokens ?? 0, cache_read_input_tokens: result.usage?.cache_read_input_tokens ?? 0 };
    logger.debug({ agentId: job.agentId, taskId: job.task.taskId, turns: result.num_turns, created, modified }, 'claude code worker finished');
    return {
      summary: answer?.success ? answer.data.summary : text.trim() || 'the Claude Code CLI gave no summary',
      files_created: created.map((f) => path.relative(jail.root, f)),
      files_modified: modified.map((f) => path.relative(jail.root, f)),
      ...(answer?.success && answer.data.notes ? { notes: answer.data.notes } : {}),
      usage,
      turns: result.num_turns ?? 0,
      model,
    };
  }

  /** Runs the CLI; each tool call becomes a progress line; an abort kills it. */
  private runCli(args: string[], cwd: string, env: Record<string, string>, job: WorkerJob): Promise<StreamEvent[]> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.claude, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      if (child.pid !== undefined) job.onSpawn?.(child.pid);
      const events: StreamEvent[] = [];
      const stderr: string[] = [];
      // Tool calls seen and not answered yet, by id: a call took from its tool_use to its tool_result.
      const calls = new Map<string, { name: string; began: number }>();
      // Model calls as the CLI's stream shows them: one is asked when the CLI starts or reports the tool
      // results it sends back, and has answered by the last assistant event before its next report (a
      // response may come as several assistant events). Calls that fail inside the CLI are not seen.
      let asked: number | undefined;
      let answered: number | undefined;
      let turn = 0;
      const closeModelCall = () => {
        if (asked !== undefined && answered !== undefined) job.onTimed?.({ kind: 'model_call', turn: ++turn, durationMs: answered - asked });
        asked = undefined;
        answered = undefined;
      };
      const kill = () => child.kill('SIGTERM');
      job.signal.addEventListener('abort', kill, { once: true });
      const out = readLines(child.stdout, (line) => {
        let event: StreamEvent;
        try {
          event = JSON.parse(line) as StreamEvent;
        } catch {
          return;
        }
        events.push(event);
        if (event.type === 'assistant' && asked !== undefined) answered = performance.now();
        else if (event.type === 'user' || event.type === 'result') {
          closeModelCall();
          if (event.type === 'user') asked = performance.now();
        }
        if (event.type === 'system' && event.subtype === 'init') {
          asked = performance.now();
          const servers = (event.mcp_servers ?? []).map((s) => `${s.name} ${s.status}`).join(', ');
          if (servers) job.progress(`claude code: MCP ${servers}`);
        }
        for (const part of event.type === 'assistant' ? event.message?.content ?? [] : []) {
          if (part.type === 'tool_use') {
            if (part.id) calls.set(part.id, { name: part.name ?? 'tool', began: performance.now() });
            job.progress(`${part.name ?? 'tool'} ${describeInput(part.input)}`);
            job.onEvent?.({ kind: 'tool', summary: `${part.name ?? 'tool'} ${describeInput(part.input)}` });
          } else if (part.type === 'text' && part.text) {
            job.onEvent?.({ kind: 'text', summary: part.text.slice(0, 200) });
          }
        }
        if (job.onEvent) reportEvent(event, job.onEvent);
        for (const part of event.type === 'user' ? event.message?.content ?? [] : []) {
          const call = part.type === 'tool_result' && part.tool_use_id ? calls.get(part.tool_use_id) : undefined;
          if (call === undefined) continue;
          calls.delete(part.tool_use_id as string);
          job.onTimed?.({ kind: 'tool_call', tool: call.name, ok: part.is_error !== true, durationMs: performance.now() - call.began });
        }
      });
      const err = readLines(child.stderr, (line) => { stderr.push(line); if (stderr.length > 20) stderr.shift(); });
      child.once('error', (error) => {
        job.signal.removeEventListener('abort', kill);
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        reject(new DanError('worker_failed', missing
          ? `the Claude Code CLI (${this.claude}) is not installed: npm install @anthropic-ai/claude-code, or set DAN_CLAUDE_PATH, or use DAN_WORKER_RUNTIME=sdk`
          : `the Claude Code CLI could not start: ${error.message}`));
      });
      child.once('close', (code, signal) => {
        job.signal.removeEventListener('abort', kill);
        void Promise.all([out, err]).then(() => {
          if (job.signal.aborted) return reject(new DanError('aborted', 'the worker was stopped'));
          if (code !== 0 && !events.some((e) => e.type === 'result')) {
            // It crashed before it could answer: another attempt may well get through.
            return reject(new DanError('worker_crashed', `the Claude Code CLI exited with ${signal ?? `code ${code}`}: ${stderr.join(' | ') || '(no output)'}`, { retryable: true }));
          }
          resolve(events);
        });
      });
    });
  }
}

/** Turns (with their token use and context size) and refused tool calls, for a farm's health checks. */
function reportEvent(event: StreamEvent, onEvent: NonNullable<WorkerJob['onEvent']>): void {
  const usage = event.type === 'assistant' ? event.message?.usage : undefined;
  if (usage) onEvent(turnEvent(usage));
  for (const part of event.type === 'user' ? event.message?.content ?? [] : []) {
    if (part.type === 'tool_result' && part.is_error) onEvent({ kind: 'refused', summary: String(typeof part.content === 'string' ? part.content : 'tool error').slice(0, 200) });
  }
}

/**
 * The CLI's flags for a guarded worker: the guard as PreToolUse and PostToolUse hooks on every
 * tool that writes files (and a PreToolUse hook on the reading tools, which keeps them in the
 * worktree), and no shell or web tools (a write through Bash would pass no hook).
 */
function guardArgs(guard: EditGuard): string[] {
  const hook = (matcher: string, phase: string) => ({ matcher, hooks: [{ type: 'command', command: `${guard.hook.command} ${phase}` }] });
  const writes = 'Edit|Write|MultiEdit|NotebookEdit';
  return [
    '--settings', JSON.stringify({ hooks: { PreToolUse: [hook(writes, 'before'), hook('Read|Glob|Grep|LS|NotebookRead', 'read')], PostToolUse: [hook(writes, 'after')] } }),
    '--disallowedTools', 'Bash,BashOutput,KillShell,WebFetch,WebSearch,Task',
  ];
}

function describeInput(input: Record<string, unknown> | undefined): string {
  const value = input?.['file_path'] ?? input?.['command'] ?? input?.['pattern'] ?? input?.['rule'] ?? '';
  return String(value).slice(0, 120);
}

/** Size and modification time of every file in the workspace, to tell what a run created or changed. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const { files } = await walkFiles(root, { maxEntries: 100_000 });
  const stamps = new Map<string, string>();
  for (const file of files) {
    const stat = await lstat(file).catch(() => undefined);
    if (stat) stamps.set(file, `${stat.size}:${stat.mtimeMs}`);
  }
  return stamps;
}

/**
 * The MCP configuration as a file (mode 0600, in the CLI's private HOME) rather than an argument: it
 * holds REDIS_URL, whose password the host's process list would otherwise show. One file per distinct
 * configuration, written once and moved into place whole, so concurrent workers never read half of it.
 */
function mcpConfigFile(home: string, server: McpServer): string {
  const text = JSON.stringify({ mcpServers: { elf: { type: 'stdio', ...server } } });
  const file = path.join(home, `elf-mcp-${createHash('sha256').update(text).digest('hex').slice(0, 16)}.json`);
  if (!existsSync(file)) {
    const partial = `${file}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(partial, text, { mode: 0o600 });
    renameSync(partial, file);
  }
  return file;
}
