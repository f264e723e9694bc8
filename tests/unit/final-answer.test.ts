import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DanError } from '../../lib/errors.js';
import { extractJsonObject, parseFinalAnswer, runToolLoopWithAnswer, workerAnswerSchema } from '../../lib/llm/final-answer.js';
import type { LlmClient } from '../../lib/llm/llm-client.js';
import { ScriptedLlmClient } from '../../lib/llm/scripted-llm-client.js';
import type { ToolLoopOptions } from '../../lib/llm/tool-loop.js';
import { createTools } from '../../lib/llm/tools/create-tools.js';
import type { ToolContext } from '../../lib/llm/tools/worker-tool.js';
import type { LlmRequest, LlmResponse } from '../../lib/llm/types.js';
import { FileTracker } from '../../lib/workspace/file-tracker.js';
import { WorkspaceJail } from '../../lib/workspace/workspace-jail.js';

type Reply = Omit<LlmResponse, 'id' | 'model' | 'role'>;

/** A client answering with these replies in order, as whole responses so that usage stays exactly as written. */
function scripted(replies: Reply[]): ScriptedLlmClient {
  return new ScriptedLlmClient({
    responses: replies.map((reply, index) => (request: LlmRequest): LlmResponse => ({ id: `msg_${index + 1}`, model: request.model, role: 'assistant', ...reply })),
  });
}

const usage = { input_tokens: 100, output_tokens: 10, cache_creation_input_tokens: 0, cache_read_input_tokens: 80 };
const text = (reply: string): Reply => ({ content: [{ type: 'text', text: reply }], stop_reason: 'end_turn', usage });
const writeCall: Reply = {
  content: [{ type: 'tool_use', id: 'w1', name: 'Write', input: { file_path: 'src/health.ts', content: 'export {};\n' } }],
  stop_reason: 'tool_use',
  usage,
};

let root: string;
let toolContext: ToolContext;

beforeEach(() => {
  root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'dan-answer-')));
  toolContext = { jail: new WorkspaceJail(root), tracker: new FileTracker(), bashTimeoutMs: 10_000, maxOutputBytes: 10_000 };
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

function options(client: LlmClient): ToolLoopOptions {
  return {
    client,
    model: 'claude-test',
    system: 'Answer with a JSON object.',
    prompt: 'Add a health endpoint',
    tools: createTools(['Write']),
    maxTurns: 4,
    maxTokens: 1024,
    toolContext,
  };
}

function lastUserText(request: LlmRequest | undefined): string {
  const last = request?.messages[request.messages.length - 1];
  if (!last || last.role !== 'user') return '';
  if (typeof last.content === 'string') return last.content;
  return last.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

describe('extractJsonObject', () => {
  it('reads a bare object', () => {
    expect(extractJsonObject('  {"summary": "done"}\n')).toEqual({ summary: 'done' });
  });

  it('reads an object inside a ```json fence among prose', () => {
    expect(extractJsonObject('All done.\n```json\n{"summary": "a", "files_created": ["x.ts"]}\n```\nBye')).toEqual({
      summary: 'a',
      files_created: ['x.ts'],
    });
  });

  it('finds the first balanced object, ignoring braces inside strings', () => {
    expect(extractJsonObject('Result: {"summary": "uses {curly} and \\"quotes\\"", "n": {"a": 1}} trailing')).toEqual({
      summary: 'uses {curly} and "quotes"',
      n: { a: 1 },
    });
    expect(extractJsonObject('function f() { return 1; } then {"summary": "s"}')).toEqual({ summary: 's' });
  });

  it('returns undefined when there is no object', () => {
    expect(extractJsonObject('I created the files.')).toBeUndefined();
    expect(extractJsonObject('[1, 2]')).toBeUndefined();
    expect(extractJsonObject('{"summary": ')).toBeUndefined();
  });
});

describe('parseFinalAnswer', () => {
  it('checks the object against the schema and names what is wrong', () => {
    expect(parseFinalAnswer('{"summary": "ok", "notes": "n"}', workerAnswerSchema)).toEqual({ summary: 'ok', notes: 'n' });
    expect(() => parseFinalAnswer('{"summary": "  "}', workerAnswerSchema)).toThrow('summary: summary must not be empty');
    expect(() => parseFinalAnswer('{"summary": "x", "files_created": "a.ts"}', workerAnswerSchema)).toThrow(/files_created: /);
    expect(() => parseFinalAnswer('nothing here', workerAnswerSchema)).toThrow("no JSON object was found in the final reply: 'nothing here'");
  });
});

describe('runToolLoopWithAnswer', () => {
  it('returns the parsed answer after the tools ran', async () => {
    const client = scripted([writeCall, text('```json\n{"summary": "Added src/health.ts", "files_created": ["src/health.ts"]}\n```')]);
    const result = await runToolLoopWithAnswer(options(client), workerAnswerSchema);

    expect(readFileSync(path.join(root, 'src/health.ts'), 'utf8')).toBe('export {};\n');
    expect(toolContext.tracker.created).toEqual(['src/health.ts']);
    expect(result.answer).toEqual({ summary: 'Added src/health.ts', files_created: ['src/health.ts'] });
    expect(result.repaired).toBe(false);
    expect(result.turns).toBe(2);
    expect(result.usage).toEqual({ input_tokens: 200, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 160 });
  });

  it('repairs an unusable answer with one more request that says what was wrong', async () => {
    const client = scripted([writeCall, text('I added the endpoint.'), text('{"summary": "Added the endpoint"}')]);
    const result = await runToolLoopWithAnswer(options(client), workerAnswerSchema);

    expect(result.answer).toEqual({ summary: 'Added the endpoint' });
    expect(result.repaired).toBe(true);
    expect(result.turns).toBe(3);
    expect(result.usage.input_tokens).toBe(300);
    expect(client.calls).toHaveLength(3);
    const repair = lastUserText(client.calls[2]);
    expect(repair).toContain("Your final reply could not be used: no JSON object was found in the final reply: 'I added the endpoint.'");
    expect(repair).toContain('Reply now with only the JSON object');
    expect(repair).toContain('"summary"');
    expect(client.calls[2]?.system?.[0]?.cache_control).toEqual({ type: 'ephemeral' });
    expect(result.messages[result.messages.length - 1]).toEqual({ role: 'assistant', content: [{ type: 'text', text: '{"summary": "Added the endpoint"}' }] });
  });

  it('fails with invalid_final_answer after one unsuccessful repair', async () => {
    const client = scripted([text('{"summary": ""}'), text('Sorry, here: {"notes": "no summary"}'), text('never asked for')]);
    const error = await runToolLoopWithAnswer(options(client), workerAnswerSchema).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(DanError);
    expect(error).toMatchObject({ code: 'invalid_final_answer', retryable: false });
    expect((error as Error).message).toContain('summary: summary must not be empty');
    expect((error as Error).message).toContain('after one repair request');
    expect(client.calls).toHaveLength(2);
  });

  it('works with any schema', async () => {
    const schema = z.object({ route: z.enum(['backend', 'frontend']) });
    const client = scripted([text('{"route": "frontend"}')]);
    expect((await runToolLoopWithAnswer(options(client), schema)).answer).toEqual({ route: 'frontend' });
  });
});
