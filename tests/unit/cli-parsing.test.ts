import { describe, expect, it } from 'vitest';
import { logFilter } from '../../src/cli/commands/logs.js';
import { parseContext } from '../../src/cli/commands/send.js';

describe('dan send --context', () => {
  it('takes a JSON object and nothing else', () => {
    expect(parseContext('{"path": "src", "n": 1}')).toEqual({ path: 'src', n: 1 });
    expect(parseContext(undefined)).toEqual({});
    expect(() => parseContext('[1]')).toThrow(/must be a JSON object/);
    expect(() => parseContext('{path: src}')).toThrow(/not valid JSON/);
  });
});

describe('dan logs filters', () => {
  const entry = (agentId: string, domain: string, line: string) => ({ taskId: 't-1', agentId, domain, line });
  it('keeps the main orchestrator or the domains, one agent, or lines matching a pattern', () => {
    const lines = [entry('main-1', 'main', 'routed'), entry('backend-1', 'backend', 'claimed'), entry('frontend-2', 'frontend', 'Write src/x.tsx')];
    expect(lines.filter(logFilter({ main: true })).map((e) => e.agentId)).toEqual(['main-1']);
    expect(lines.filter(logFilter({ domains: true })).map((e) => e.agentId)).toEqual(['backend-1', 'frontend-2']);
    expect(lines.filter(logFilter({ container: 'frontend' })).map((e) => e.agentId)).toEqual(['frontend-2']);
    expect(lines.filter(logFilter({ grep: 'write' })).map((e) => e.agentId)).toEqual(['frontend-2']);
    expect(() => logFilter({ grep: '(' })).toThrow(/--grep is not a valid pattern/);
  });
});
