import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DanError } from '../../lib/errors.js';
import type { LlmClient } from '../../lib/llm/llm-client.js';
import { ScriptedLlmClient } from '../../lib/llm/scripted-llm-client.js';
import { runToolLoop, type ToolLoopEvent, type ToolLoopOptions } from '../../lib/llm/tool-loop.js';
import { createTools } from '../../lib/llm/tools/create-tools.js';
import type { ToolContext } from '../../lib/llm/tools/worker-tool.js';
import type { LlmRequest, LlmResponse, TextBlock, ToolResultBlock, ToolUseBlock } from '../../lib/llm/types.js';
import { FileTracker } from '../../lib/workspace/file-tracker.js';
import { WorkspaceJail } from '../../lib/workspace/workspace-jail.js';

type Reply = Omit<LlmResponse, 'id' | 'model' | 'role'>;

/** A client answering with these replies in order, as whole responses so that usage stays exactly as written. */
function scripted(replies: Reply[]): ScriptedLlmClient {
  return new ScriptedLlmClient({
    responses: replies.map((reply, index) => (request: LlmRequest): LlmResponse => ({ id: `msg_${index + 1}`, model: request.model, role: 'assistant', ...reply })),
  });
}

const usage = { input_tokens: 100, output_tokens: 20, cache_creation_input_tokens: 50, cache_read_input_tokens: null };
const toolUse = (id: string, name: string, input: Record<string, unknown>): Reply => ({
  content: [{ type: 'text', text: 'Working on it.' }, { type: 'tool_use', id, name, input }],
  stop_reason: 'tool_use',
  usage,
});
const final = (text: string): Reply => ({ content: [{ type: 'text', text }], stop_reason: 'end_turn', usage: { input_tokens: 10, output_tokens: 5 } });

let root: string;
let toolContext: ToolContext;

beforeEach(() => {
  root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dan-loop-')));
  toolContext = { jail: new WorkspaceJail(root), tracker: new FileTracker(), bashTimeoutMs: 10_000, maxOutputBytes: 10_000 };
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

function options(client: LlmClient, more: Partial<ToolLoopOptions> = {}): ToolLoopOptions {
  return {
    client,
    model: 'claude-test',
    system: 'You are a backend worker.',
    prompt: 'Create a health endpoint',
    tools: createTools(['Read', 'Write', 'Edit', 'Bash']),
    maxTurns: 5,
    maxTokens: 1024,
    toolContext,
    ...more,
  };
}

function toolResults(request: LlmRequest | undefined): ToolResultBlock[] {
  const last = request?.messages[request.messages.length - 1];
  return Array.isArray(last?.content) ? last.content.filter((block): block is ToolResultBlock => block.type === 'tool_result') : [];
}

describe('runToolLoop', () => {
  it('runs a Write the model asks for and returns its final text', async () => {
    const client = scripted([
      toolUse('t1', 'Write', { file_path: 'src/health.js', content: "export const health = () => 'ok';\n" }),
      final('{"summary": "Added the health endpoint"}'),
    ]);
    const events: ToolLoopEvent[] = [];
    const result = await runToolLoop(options(client, { onEvent: (event) => events.push(event) }));

    expect(readFileSync(path.join(root, 'src/health.js'), 'utf8')).toBe("export const health = () => 'ok';\n");
    expect(toolContext.tracker.created).toEqual(['src/health.js']);
    expect(result.finalText).toBe('{"summary": "Added the health endpoint"}');
    expect(result.turns).toBe(2);
    expect(result.usage).toEqual({ input_tokens: 110, output_tokens: 25, cache_creation_input_tokens: 50, cache_read_input_tokens: 0 });
    expect(result.messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(toolResults(client.calls[1])).toEqual([
      expect.objectContaining({ type: 'tool_result', tool_use_id: 't1', content: expect.stringContaining('Created src/health.js') }),
    ]);
    expect(toolResults(client.calls[1])[0]?.is_error).toBeUndefined();
    expect(events).toEqual([
      { type: 'turn_started', turn: 1 },
      { type: 'turn_ended', turn: 1, usage, ms: expect.any(Number) },
      { type: 'tool_called', turn: 1, tool: 'Write', summary: 'src/health.js' },
      { type: 'tool_result', turn: 1, tool: 'Write', ok: true, summary: expect.stringContaining('Created src/health.js'), ms: expect.any(Number) },
      { type: 'turn_started', turn: 2 },
      { type: 'turn_ended', turn: 2, usage: { input_tokens: 10, output_tokens: 5 }, ms: expect.any(Number) },
      { type: 'final', turn: 2, text: '{"summary": "Added the health endpoint"}' },
    ]);
  });

  it('marks the system block and only the last tool for caching in every request', async () => {
    const client = scripted([toolUse('t1', 'Bash', { command: 'true' }), toolUse('t2', 'Bash', { command: 'true' }), final('done')]);
    await runToolLoop(options(client));

    expect(client.calls).toHaveLength(3);
    for (const request of client.calls) {
      expect(request.system).toEqual([{ type: 'text', text: 'You are a backend worker.', cache_control: { type: 'ephemeral' } }]);
      expect(request.tools?.map((tool) => tool.name)).toEqual(['Read', 'Write', 'Edit', 'Bash']);
      expect(request.tools?.map((tool) => tool.cache_control)).toEqual([undefined, undefined, undefined, { type: 'ephemeral' }]);
      const marked = request.messages.flatMap((message) =>
        Array.isArray(message.content) ? message.content.filter((block) => 'cache_control' in block && block.cache_control) : [],
      );
      expect(marked).toHaveLength(1);
    }
    expect(client.calls[0]?.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Create a health endpoint', cache_control: { type: 'ephemeral' } }] },
    ]);
  });

  it('sends tool problems back to the model as error results and carries on', async () => {
    const client = scripted([
      {
        content: [
          { type: 'tool_use', id: 'a', name: 'Edit', input: { file_path: 'missing.js', old_string: 'x', new_string: 'y' } },
          { type: 'tool_use', id: 'b', name: 'Write', input: { file_path: '../escape.txt', content: 'x' } },
          { type: 'tool_use', id: 'c', name: 'Bash', input: { command: 'exit 4' } },
          { type: 'tool_use', id: 'd', name: 'WebSearch', input: { query: 'x' } },
          { type: 'tool_use', id: 'e', name: 'Read', input: {} },
        ],
        stop_reason: 'tool_use',
        usage,
      },
      final('gave up'),
    ]);
    const result = await runToolLoop(options(client));

    expect(result.finalText).toBe('gave up');
    const results = toolResults(client.calls[1]);
    expect(results.map((block) => [block.tool_use_id, block.is_error])).toEqual([
      ['a', true],
      ['b', true],
      ['c', true],
      ['d', true],
      ['e', true],
    ]);
    expect(results[0]?.content).toContain('file does not exist: missing.js');
    expect(results[1]?.content).toContain("path '../escape.txt' resolves outside the workspace");
    expect(results[2]?.content).toContain('exit code 4');
    expect(results[3]?.content).toBe("unknown tool 'WebSearch'; the tools you have are: Read, Write, Edit, Bash");
    expect(results[4]?.content).toMatch(/^invalid input for Read: file_path: /);
  });

  it('stops with a max_turns error when the model keeps calling tools', async () => {
    const client = scripted([1, 2, 3].map((n) => toolUse(`t${n}`, 'Bash', { command: 'true' })));
    const error = await runToolLoop(options(client, { maxTurns: 3 })).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(DanError);
    expect(error).toMatchObject({ code: 'max_turns', retryable: false });
    expect((error as Error).message).toContain('after 3 turns');
    expect(client.calls).toHaveLength(3);
  });

  it('lets model errors through unchanged', async () => {
    const boom = new DanError('llm_overloaded', 'the API is overloaded', { retryable: true });
    const client = new ScriptedLlmClient({ responses: [boom] });
    await expect(runToolLoop(options(client))).rejects.toBe(boom);
  });

  it('reports a failed model call with its duration and error before the error ends the loop', async () => {
    const boom = new DanError('llm_overloaded', 'the API is overloaded', { retryable: true });
    const first = (request: LlmRequest): LlmResponse => ({ id: 'msg_1', model: request.model, role: 'assistant', ...toolUse('t1', 'Write', { file_path: 'a.txt', content: 'a' }) });
    const client = new ScriptedLlmClient({ responses: [first, boom] });
    const events: ToolLoopEvent[] = [];
    await expect(runToolLoop(options(client, { onEvent: (e) => events.push(e) }))).rejects.toBe(boom);
    const turns = events.filter((e) => e.type === 'turn_ended' || e.type === 'turn_failed');
    expect(turns.map((e) => [e.type, e.turn])).toEqual([['turn_ended', 1], ['turn_failed', 2]]);
    expect(turns[1]).toMatchObject({ error: 'the API is overloaded', ms: expect.any(Number) });
  });

  it('stops at once when aborted, even if the client ignores the signal', async () => {
    const controller = new AbortController();
    let called!: () => void;
    const calledOnce = new Promise<void>((resolve) => (called = resolve));
    // A hand-made client: ScriptedLlmClient always answers at once and cannot leave a call pending.
    const client: LlmClient = {
      name: 'hanging',
      createMessage: () => {
        called();
        return new Promise<LlmResponse>(() => undefined);
      },
    };
    const running = runToolLoop(options(client, { signal: controller.signal }));
    await calledOnce;
    controller.abort();
    await expect(running).rejects.toMatchObject({ code: 'aborted', name: 'AbortError' });
  });

  it('refuses to run a cut-off tool call and asks for smaller pieces', async () => {
    const cut: Reply = {
      content: [{ type: 'tool_use', id: 'w', name: 'Write', input: { file_path: 'big.txt' } } satisfies ToolUseBlock],
      stop_reason: 'max_tokens',
      usage,
    };
    const client = scripted([cut, final('ok')]);
    await runToolLoop(options(client));
    const [result] = toolResults(client.calls[1]);
    expect(result).toMatchObject({ tool_use_id: 'w', is_error: true });
    expect(result?.content).toContain('1024-token output limit');
  });

  it('passes a truncated command output to the model with its note and exit code', async () => {
    const client = scripted([toolUse('t1', 'Bash', { command: 'head -c 20000 /dev/zero | tr "\\0" a' }), final('done')]);
    await runToolLoop(options(client, { toolContext: { ...toolContext, maxOutputBytes: 1000 } }));
    const [result] = toolResults(client.calls[1]);
    expect(result?.content).toContain('[output truncated: 19000 of 20000 bytes left out; ');
    expect(result?.content.endsWith('[exit code 0]')).toBe(true);
  });

  it('returns the text of every text block of the last reply', async () => {
    const blocks: TextBlock[] = [{ type: 'text', text: 'Here it is: ' }, { type: 'text', text: '{"summary":"x"}' }];
    const client = scripted([{ content: blocks, stop_reason: 'end_turn', usage }]);
    expect((await runToolLoop(options(client))).finalText).toBe('Here it is: {"summary":"x"}');
  });
});
