import { describe, expect, it } from 'vitest';
import type { ContainerLine, ManagedContainer } from '../../lib/spawner/docker-spawner.js';
import type { LogLine } from '../../src/cli/log-lines.js';
import { SeenLines, formatLine, fromContainerLine, fromLogEntry, groupBySource, jsonLine, lineFilter, mentionsTask, mergeByTime } from '../../src/cli/log-lines.js';

const backend: ManagedContainer = { id: 'c0ffee0001', name: 'domain-backend-1a2b3c4d', agentId: 'backend-1a2b3c4d', domain: 'backend', role: 'domain', state: 'running', composeOwned: false, network: undefined };
const main: ManagedContainer = { id: 'c0ffee0002', name: 'dan-main-1', agentId: 'dan-main-1', domain: 'main', role: 'main', state: 'running', composeOwned: true, network: undefined };

const at = (iso: string) => Date.parse(iso);
const pino = (fields: Record<string, unknown>) => JSON.stringify({ level: 'info', time: '2026-01-02T10:00:00.000Z', ...fields });
const output = (container: ManagedContainer, time: string, line: string, stream: 'stdout' | 'stderr' = 'stdout'): ContainerLine => ({ container, stream, time: at(time), line });
const redisLine = (agentId: string, domain: string, time: string, message: string, taskId = 'task-1'): LogLine =>
  fromLogEntry({ taskId, agentId, domain, line: `[${time}] ${agentId}: ${message}` });

describe('dan logs: reading lines', () => {
  it('takes a Redis line\'s time from the ISO the agent wrote, else from the stream id', () => {
    const line = redisLine('backend-1a2b3c4d', 'backend', '2026-01-02T10:00:01.250Z', 'claimed task');
    expect(line).toMatchObject({ source: 'redis', time: at('2026-01-02T10:00:01.250Z'), agentId: 'backend-1a2b3c4d', domain: 'backend', taskId: 'task-1' });
    expect(fromLogEntry({ taskId: 't', agentId: 'a', domain: 'd', line: 'no time here', id: '1767348000123-0' }).time).toBe(1767348000123);
  });

  it('reads the agent and its domain from the text of a task list line', () => {
    const line = fromLogEntry({ taskId: 't', agentId: '', domain: '', line: '[2026-01-02T10:00:00.000Z] frontend-0badcafe-react-1: wrote src/App.tsx' });
    expect(line.agentId).toBe('frontend-0badcafe-react-1');
    expect(line.domain).toBe('frontend');
  });

  it('takes the agent and the task of a container line from its pino fields, and the container otherwise', () => {
    const json = fromContainerLine(output(main, '2026-01-02T10:00:02.000Z', pino({ agentId: 'main-00ff00ff', taskId: 'task-1', msg: 'routed' })));
    expect(json).toMatchObject({ source: 'docker', agentId: 'main-00ff00ff', domain: 'main', taskId: 'task-1', container: { name: 'dan-main-1', stream: 'stdout' } });
    const text = fromContainerLine(output(backend, '2026-01-02T10:00:02.000Z', 'Error: boom', 'stderr'));
    expect(text).toMatchObject({ agentId: 'backend-1a2b3c4d', domain: 'backend', container: { stream: 'stderr' } });
    expect(text.taskId).toBeUndefined();
  });
});

describe('dan logs: filters', () => {
  const lines = [
    redisLine('main-00ff00ff', 'main', '2026-01-02T10:00:00.000Z', 'routed to backend'),
    redisLine('backend-1a2b3c4d', 'backend', '2026-01-02T10:00:01.000Z', 'claimed task'),
    fromContainerLine(output(backend, '2026-01-02T10:00:02.000Z', pino({ agentId: 'backend-1a2b3c4d', taskId: 'task-1-backend', msg: 'worker started' }))),
    fromContainerLine(output(backend, '2026-01-02T10:00:03.000Z', pino({ agentId: 'backend-1a2b3c4d', msg: 'heartbeat' }))),
    fromContainerLine(output(main, '2026-01-02T10:00:04.000Z', pino({ agentId: 'main-00ff00ff', msg: 'plan for task-1 saved' }))),
    fromContainerLine(output(main, '2026-01-02T10:00:05.000Z', pino({ agentId: 'main-00ff00ff', taskId: 'task-2', msg: 'routed' }))),
  ];
  const kept = (options: Parameters<typeof lineFilter>[0]) => lines.filter(lineFilter(options)).map((l) => `${l.source}:${l.agentId}:${l.time % 10_000}`);

  it('keeps the main orchestrator or the domains from both sources', () => {
    expect(kept({ main: true })).toEqual(['redis:main-00ff00ff:0', 'docker:main-00ff00ff:4000', 'docker:main-00ff00ff:5000']);
    expect(kept({ domains: true })).toEqual(['redis:backend-1a2b3c4d:1000', 'docker:backend-1a2b3c4d:2000', 'docker:backend-1a2b3c4d:3000']);
  });

  it('takes -c as an agent id or prefix, a domain, or a container name', () => {
    const backendOnly = ['redis:backend-1a2b3c4d:1000', 'docker:backend-1a2b3c4d:2000', 'docker:backend-1a2b3c4d:3000'];
    expect(kept({ container: 'backend' })).toEqual(backendOnly);
    expect(kept({ container: 'backend-1a2' })).toEqual(backendOnly);
    expect(kept({ container: 'dan-main-1' })).toEqual(['docker:main-00ff00ff:4000', 'docker:main-00ff00ff:5000']);
    expect(kept({ container: 'frontend' })).toEqual([]);
  });

  it('keeps the container lines that mention the task (its id, a sub-task id, or the text)', () => {
    expect(kept({ task: 'task-1' })).toEqual(['redis:main-00ff00ff:0', 'redis:backend-1a2b3c4d:1000', 'docker:backend-1a2b3c4d:2000', 'docker:main-00ff00ff:4000']);
    expect(mentionsTask(lines[5] as LogLine, 'task-2')).toBe(true);
    expect(mentionsTask(lines[3] as LogLine, 'task-2')).toBe(false);
  });

  it('greps what is shown, not the JSON keys of a container line', () => {
    expect(kept({ grep: 'WORKER' })).toEqual(['docker:backend-1a2b3c4d:2000']);
    expect(kept({ grep: 'level' })).toEqual([]);
    expect(kept({ grep: 'task-2' })).toEqual(['docker:main-00ff00ff:5000']);
    expect(() => lineFilter({ grep: '(' })).toThrow(/--grep is not a valid pattern/);
  });
});

describe('dan logs: merging', () => {
  const line = (source: string, time: number): LogLine => ({ source: 'redis', time, agentId: source, domain: '', line: `${source}@${time}` });
  const texts = (merged: LogLine[]) => merged.map((l) => l.line);

  it('interleaves sources by time', () => {
    expect(texts(mergeByTime([[line('r', 1), line('r', 4)], [line('a', 2), line('a', 3)], [], [line('b', 0)]]))).toEqual(['b@0', 'r@1', 'a@2', 'a@3', 'r@4']);
  });

  it('keeps each source in its own order, and the earlier source first on equal times', () => {
    expect(texts(mergeByTime([[line('r', 5), line('r', 2)], [line('a', 5), line('a', 6)]]))).toEqual(['r@5', 'r@2', 'a@5', 'a@6']);
  });

  it('groups lines by source: Redis, and each stream of each container', () => {
    const lines = [
      fromContainerLine(output(backend, '2026-01-02T10:00:03.000Z', 'b', 'stderr')),
      fromContainerLine(output(backend, '2026-01-02T10:00:01.000Z', 'a')),
      redisLine('main-00ff00ff', 'main', '2026-01-02T10:00:02.000Z', 'r'),
      fromContainerLine(output(backend, '2026-01-02T10:00:04.000Z', 'c')),
    ];
    expect(groupBySource(lines).map((group) => group.map((l) => l.line.slice(-1)))).toEqual([['b'], ['a', 'c'], ['r']]);
    expect(mergeByTime(groupBySource(lines)).map((l) => l.line.slice(-1))).toEqual(['a', 'r', 'b', 'c']);
  });
});

describe('dan logs: output', () => {
  const container = fromContainerLine(output(backend, '2026-01-02T10:00:02.000Z', pino({ agentId: 'backend-1a2b3c4d', domain: 'backend', taskId: 'task-1', msg: 'claimed', attempt: 1 })));

  it('prints a Redis line as written after the agent prefix, with the task when several are shown', () => {
    const line = redisLine('backend-1a2b3c4d', 'backend', '2026-01-02T10:00:01.000Z', 'claimed task', 'abcdef0123');
    expect(formatLine(line, { colour: false, showTask: true })).toBe('backend-1a2b3c4d   abcdef01 [2026-01-02T10:00:01.000Z] backend-1a2b3c4d: claimed task');
    expect(formatLine(line, { colour: false, showTask: false })).toBe('backend-1a2b3c4d   [2026-01-02T10:00:01.000Z] backend-1a2b3c4d: claimed task');
  });

  it('prints a pino line the way the logger does, without naming the agent twice', () => {
    expect(formatLine(container, { colour: false, showTask: true })).toBe('backend-1a2b3c4d   10:00:00.000 info  [task task-1] claimed attempt=1');
    const plain = fromContainerLine(output(backend, '2026-01-02T10:00:02.000Z', 'npm warn something'));
    expect(formatLine(plain, { colour: false, showTask: true })).toBe('backend-1a2b3c4d   npm warn something');
  });

  it('paints the prefix per agent and colours container lines only when asked', () => {
    const painted = formatLine(container, { colour: true, showTask: true, paintAgent: (id, text) => `<${id}>${text.trim()}</>` });
    expect(painted.startsWith('<backend-1a2b3c4d>backend-1a2b3c4d</> ')).toBe(true);
    expect(painted).toContain('\u001b[36minfo');
  });

  it('prints the same JSON fields for both sources', () => {
    expect(JSON.parse(jsonLine(container))).toEqual({
      source: 'docker', time: '2026-01-02T10:00:02.000Z', agent_id: 'backend-1a2b3c4d', domain: 'backend', task_id: 'task-1',
      container: 'domain-backend-1a2b3c4d', stream: 'stdout', line: container.line,
    });
    const line = redisLine('main-00ff00ff', 'main', '2026-01-02T10:00:01.000Z', 'routed');
    expect(JSON.parse(jsonLine(line))).toEqual({
      source: 'redis', time: '2026-01-02T10:00:01.000Z', agent_id: 'main-00ff00ff', domain: 'main', task_id: 'task-1', line: line.line,
    });
  });
});

describe('dan logs: lines already shown', () => {
  it('skips, on a second read of a source, what the first read showed, counting lines that share a millisecond', () => {
    const seen = new SeenLines();
    expect([10, 20, 20].map((t) => seen.take('c:stdout', t))).toEqual([true, true, true]);
    seen.rewind('c:stdout');
    expect([5, 10, 20, 20, 20, 30].map((t) => seen.take('c:stdout', t))).toEqual([false, false, false, false, true, true]);
    expect(seen.take('c:stdout', 25)).toBe(true);
    expect(seen.take('c:stderr', 1)).toBe(true);
    expect(seen.has('other')).toBe(false);
  });
});
