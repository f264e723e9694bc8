import { InvalidInputError } from '../../lib/errors.js';
import { formatLogLine } from '../../lib/logger.js';
import type { LogEntry } from '../../lib/redis/task-store.js';
import type { ContainerLine } from '../../lib/spawner/docker-spawner.js';
import { visibleText } from './visible-text.js';

/**
 * One line `dan logs` shows, from either place lines live: a task log line from Redis, or a line a
 * container printed (usually pino JSON). Pure data, so filtering, merging and formatting are tested
 * without Redis or Docker.
 */
export interface LogLine {
  source: 'redis' | 'docker';
  /** Milliseconds since the epoch. */
  time: number;
  agentId: string;
  /** 'main' for the main orchestrator; '' when not known. */
  domain: string;
  taskId?: string;
  /** Redis: `[<ISO>] <agent>: <message>`. Docker: the text the container printed. */
  line: string;
  /** Redis only: a line the agent printed (its pino output), not a task log line. */
  output?: boolean;
  /** Docker only: the container's name and id, and which of its streams printed the line. */
  container?: { id: string; name: string; stream: 'stdout' | 'stderr' };
}

const ISO_PREFIX = /^\[([^\]]+)\]/;
const AGENT_PREFIX = /^\[[^\]]+\] ([^:]+):/;

/**
 * A Redis log entry as a line: its time from the `[<ISO>]` the agent wrote, else from the stream
 * id (Redis's clock). In one task's list the agent and domain are read from the text.
 */
export function fromLogEntry(entry: LogEntry): LogLine {
  const written = Date.parse(ISO_PREFIX.exec(entry.line)?.[1] ?? '');
  const added = Number(entry.id?.split('-')[0]);
  const agentId = entry.agentId || (AGENT_PREFIX.exec(entry.line)?.[1] ?? '');
  return {
    source: 'redis',
    time: Number.isNaN(written) ? (Number.isFinite(added) && added > 0 ? added : 0) : written,
    agentId,
    domain: entry.domain || domainOf(agentId),
    taskId: entry.taskId,
    line: entry.line,
    ...(entry.output ? { output: true } : {}),
  };
}

/**
 * A container's output line. Pino lines name their agent and often their task; the agent id in the
 * line wins over the container's (the main orchestrator's container is named by compose, not by id).
 */
export function fromContainerLine(output: ContainerLine): LogLine {
  const fields = parsePino(output.line);
  const named = typeof fields?.['agentId'] === 'string' ? fields['agentId'] : '';
  const taskId = typeof fields?.['taskId'] === 'string' ? fields['taskId'] : undefined;
  return {
    source: 'docker',
    time: output.time,
    agentId: named || output.container.agentId,
    domain: output.container.domain,
    ...(taskId ? { taskId } : {}),
    line: output.line,
    container: { id: output.container.id, name: output.container.name, stream: output.stream },
  };
}

/** `main-1a2b3c4d` → main, `backend-1a2b3c4d` → backend: agent ids start with their domain. */
function domainOf(agentId: string): string {
  return /^([a-z][a-z0-9-]*)-[0-9a-f]{8}\b/.exec(agentId)?.[1] ?? '';
}

function parsePino(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export interface LineFilterOptions {
  main?: boolean;
  domains?: boolean;
  /** An agent id or its prefix, a domain name, or a container name. */
  container?: string;
  grep?: string;
  /** Container lines are kept only when they mention this task (or a sub-task `{id}-{domain}`). */
  task?: string;
}

/** Which lines a `dan logs` call shows. Throws (exit 2) on a `--grep` that is not a pattern. */
export function lineFilter(options: LineFilterOptions): (line: LogLine) => boolean {
  let pattern: RegExp | undefined;
  if (options.grep) {
    try {
      pattern = new RegExp(options.grep, 'i');
    } catch (error) {
      throw new InvalidInputError(`--grep is not a valid pattern: ${(error as Error).message}`);
    }
  }
  const { main, domains, container, task } = options;
  return (line) => {
    if (main && !domains && line.domain !== 'main') return false;
    if (domains && !main && line.domain === 'main') return false;
    if (container && !(line.agentId.startsWith(container) || line.domain === container || line.container?.name === container)) return false;
    if (task && line.source === 'docker' && !mentionsTask(line, task)) return false;
    if (pattern && !pattern.test(printed(line) ? formatLogLine(line.line, false) : line.line) && !pattern.test(line.taskId ?? '')) return false;
    return true;
  };
}

/** True for what an agent printed (a container's output, or a process agent's kept in Redis), usually pino JSON. */
function printed(line: LogLine): boolean {
  return line.source === 'docker' || line.output === true;
}

/** True when a line belongs to the task: its `taskId` is the task or a sub-task of it, or its text names it. */
export function mentionsTask(line: LogLine, taskId: string): boolean {
  return (line.taskId?.startsWith(taskId) ?? false) || line.line.includes(taskId);
}

/**
 * Merges lines from several sources by time. Each group keeps its own order (a source's lines are
 * already in the order they were written, even where two share a millisecond); on equal times the
 * earlier group goes first.
 */
export function mergeByTime(groups: readonly (readonly LogLine[])[]): LogLine[] {
  const heads = groups.map(() => 0);
  const merged: LogLine[] = [];
  for (;;) {
    let best = -1;
    for (let g = 0; g < groups.length; g++) {
      const candidate = groups[g]?.[heads[g] ?? 0];
      if (!candidate) continue;
      const current = best === -1 ? undefined : groups[best]?.[heads[best] ?? 0];
      if (!current || candidate.time < current.time) best = g;
    }
    if (best === -1) return merged;
    merged.push(groups[best]?.[heads[best] ?? 0] as LogLine);
    heads[best] = (heads[best] ?? 0) + 1;
  }
}

/** The source a line came from, for grouping before `mergeByTime`: Redis, or one stream of one container. */
export function sourceKey(line: LogLine): string {
  return line.container ? `${line.container.id}:${line.container.stream}` : 'redis';
}

/** Groups lines by `sourceKey`, each group in arrival order. */
export function groupBySource(lines: readonly LogLine[]): LogLine[][] {
  const groups = new Map<string, LogLine[]>();
  for (const line of lines) {
    const key = sourceKey(line);
    const group = groups.get(key);
    if (group) group.push(line);
    else groups.set(key, [line]);
  }
  return [...groups.values()];
}

export interface FormatOptions {
  /** ANSI colours in container lines (the level, the time). */
  colour: boolean;
  /** Show the first 8 characters of the task id before a Redis line (off when one task is shown). */
  showTask: boolean;
  /** Paints the agent prefix; `colourFor` of the CLI on a terminal. */
  paintAgent?: (agentId: string, text: string) => string;
}

/**
 * The human form: an agent prefix, then the Redis line as written, or the container line the way
 * `formatLogLine` shows pino lines (without repeating the agent the prefix already names).
 */
export function formatLine(line: LogLine, options: FormatOptions): string {
  const name = visibleText(line.agentId || line.container?.name || 'task');
  const prefix = (options.paintAgent ?? ((_id: string, text: string) => text))(name, name.padEnd(18));
  // Lines hold text anyone who submits a task wrote: terminal controls are shown, never sent raw.
  if (!printed(line)) return `${prefix} ${options.showTask ? `${visibleText((line.taskId ?? '').slice(0, 8))} ` : ''}${visibleText(line.line)}`;
  const fields = parsePino(line.line);
  if (!fields) return `${prefix} ${visibleText(line.line)}`;
  if (fields['agentId'] === line.agentId) {
    delete fields['agentId'];
    if (typeof fields['domain'] === 'string' && line.agentId.startsWith(fields['domain'])) delete fields['domain'];
  }
  return `${prefix} ${formatLogLine(JSON.stringify(fields, (_key, value: unknown) => (typeof value === 'string' ? visibleText(value) : value)), options.colour)}`;
}

/** The `--json` form: one object per line, the same fields for both sources. */
export function jsonLine(line: LogLine): string {
  return JSON.stringify({
    source: line.source,
    time: new Date(line.time).toISOString(),
    agent_id: line.agentId,
    domain: line.domain,
    ...(line.taskId ? { task_id: line.taskId } : {}),
    ...(line.container ? { container: line.container.name, stream: line.container.stream } : {}),
    line: line.line,
  });
}

/**
 * Remembers, per source, the newest time seen and how many lines had it, so that reading a source
 * again (a follow after the first read, a container that restarts) shows only lines not shown yet.
 * Docker's timestamps have nanoseconds but reach us as milliseconds, hence the count at the newest.
 */
export class SeenLines {
  private readonly marks = new Map<string, { time: number; atTime: number; skip: number; catchingUp: boolean }>();

  /** True when a line of this source was seen. */
  has(key: string): boolean {
    return this.marks.has(key);
  }

  /** Call before reading a source again from an earlier point. */
  rewind(key: string): void {
    const mark = this.marks.get(key);
    if (mark) Object.assign(mark, { skip: mark.atTime, catchingUp: true });
  }

  /** True when the line was not seen before; records it. */
  take(key: string, time: number): boolean {
    const mark = this.marks.get(key);
    if (!mark) {
      this.marks.set(key, { time, atTime: 1, skip: 0, catchingUp: false });
      return true;
    }
    if (mark.catchingUp) {
      if (time < mark.time) return false;
      if (time === mark.time && mark.skip > 0) {
        mark.skip -= 1;
        return false;
      }
      mark.catchingUp = false;
    }
    if (time === mark.time) mark.atTime += 1;
    else if (time > mark.time) Object.assign(mark, { time, atTime: 1 });
    return true;
  }
}
