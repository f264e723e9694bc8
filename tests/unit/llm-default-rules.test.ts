import { describe, expect, it } from 'vitest';
import { ScriptedLlmClient } from '../../lib/llm/scripted-llm-client.js';
import { responseText, type LlmRequest, type LlmResponse, type Message, type ToolDefinition, type ToolUseBlock } from '../../lib/llm/types.js';

const tool = (name: string): ToolDefinition => ({ name, description: name, input_schema: { type: 'object', properties: {} } });
const WORKER_TOOLS = ['Read', 'Write', 'Edit', 'Glob', 'Grep', 'Bash'].map(tool);

function workerRequest(worker: string, domain: string, task: string, extra: Message[] = []): LlmRequest {
  return {
    model: 'claude-sonnet-5-5',
    max_tokens: 1000,
    system: [{ type: 'text', text: `You are a specialist.\n---\nWorker: ${worker}\nDomain: ${domain}\nTools: Read, Write` }],
    tools: WORKER_TOOLS,
    messages: [{ role: 'user', content: `Task: ${task}\n\nRequirements:\n- keep it small` }, ...extra],
  };
}

const toolUse = (response: LlmResponse): ToolUseBlock | undefined => response.content.find((b): b is ToolUseBlock => b.type === 'tool_use');

describe('default rules', () => {
  it.each([
    ['api', 'src/api/health-endpoint.ts'],
    ['db', 'db/migrations/health-endpoint.sql'],
    ['auth', 'src/auth/health-endpoint.ts'],
    ['react', 'src/components/HealthEndpoint.tsx'],
    ['css', 'src/styles/health-endpoint.css'],
    ['a11y', 'docs/a11y/health-endpoint.md'],
    ['docker', 'docker/health-endpoint.Dockerfile'],
    ['ci', '.github/workflows/health-endpoint.yml'],
    ['infra', 'infra/health-endpoint.tf'],
    ['api-builder', 'src/api/health-endpoint.ts'],
    ['tester', 'tests/health-endpoint.test.js'],
    ['translator', 'notes/translator-health-endpoint.md'],
  ])('has worker %s write %s, mentioning the task', async (worker, expected) => {
    const response = await new ScriptedLlmClient().createMessage(workerRequest(worker, 'web', 'add a health endpoint'));

    expect(response.stop_reason).toBe('tool_use');
    expect(toolUse(response)?.name).toBe('Write');
    expect(toolUse(response)?.input['file_path']).toBe(expected);
    expect(String(toolUse(response)?.input['content'])).toContain('add a health endpoint');
  });

  it('answers with the JSON summary naming the file once the Write came back', async () => {
    const client = new ScriptedLlmClient();
    const request = workerRequest('db', 'data', 'add a users table');
    const first = await client.createMessage(request);
    const call = toolUse(first);
    const second = await client.createMessage({
      ...request,
      messages: [...request.messages, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call?.id ?? '', content: 'ok' }] }],
    });

    expect(second.stop_reason).toBe('end_turn');
    expect(JSON.parse(responseText(second))).toEqual({
      summary: 'db created db/migrations/users-table.sql for: add a users table',
      files_created: ['db/migrations/users-table.sql'],
      notes: 'scripted answer from the local model server (dan mock-llm)',
    });
  });

  it('answers a later request for the JSON (a repair round) with the summary, not a second Write', async () => {
    const request = workerRequest('api', 'web', 'add a health endpoint', [
      { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'Write', input: { file_path: 'src/api/health-endpoint.ts', content: 'x' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'ok' }] },
      { role: 'assistant', content: 'Done, I think.' },
      { role: 'user', content: 'Your final answer was not valid JSON. Reply with only the JSON object.' },
    ]);
    const response = await new ScriptedLlmClient().createMessage(request);

    expect(response.stop_reason).toBe('end_turn');
    expect(JSON.parse(responseText(response))).toMatchObject({ files_created: ['src/api/health-endpoint.ts'] });
  });

  it('reports a failed Write in the summary without claiming the file', async () => {
    const request = workerRequest('api', 'web', 'add a health endpoint', [
      { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'Write', input: { file_path: 'src/api/health-endpoint.ts', content: 'x' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'path is outside the workspace\nmore', is_error: true }] },
    ]);
    const summary = JSON.parse(responseText(await new ScriptedLlmClient().createMessage(request))) as Record<string, unknown>;

    expect(summary['summary']).toBe('api could not write src/api/health-endpoint.ts: path is outside the workspace');
    expect(summary['files_created']).toBeUndefined();
  });

  it('has a worker without a Write tool answer with a summary that changed no files', async () => {
    const request = { ...workerRequest('reviewer', 'qa', 'review the login flow'), tools: [tool('Read')] };
    const summary = JSON.parse(responseText(await new ScriptedLlmClient().createMessage(request))) as Record<string, unknown>;

    expect(summary['summary']).toBe('reviewer looked at the task and changed no files: review the login flow');
  });

  it('routes a task to the listed domains whose words it shares', async () => {
    const system = [
      'dan-router: split the task into steps for these domains.',
      '- frontend: React components, pages, styles and accessibility',
      '- backend: HTTP APIs, endpoints, authentication',
      '- data: database tables, migrations and queries',
    ].join('\n');
    const ask = (task: string): LlmRequest => ({ model: 'm', max_tokens: 500, system: [{ type: 'text', text: system }], messages: [{ role: 'user', content: `Task: ${task}` }] });
    const client = new ScriptedLlmClient();

    const single = JSON.parse(responseText(await client.createMessage(ask('add a health endpoint')))) as unknown;
    expect(single).toEqual({ steps: [{ domain: 'backend', description: 'add a health endpoint', depends_on: [] }] });
    const multi = JSON.parse(responseText(await client.createMessage(ask('add a users table and a profile page')))) as { steps: { domain: string }[] };
    expect(multi.steps.map((s) => s.domain).sort()).toEqual(['data', 'frontend']);
    const none = JSON.parse(responseText(await client.createMessage(ask('do something vague')))) as { steps: { domain: string }[] };
    expect(none.steps.map((s) => s.domain)).toEqual(['frontend']);
  });

  it('picks workers by keyword overlap for the worker selector', async () => {
    const system = 'dan-worker-selector\nWorkers:\n- react: React components and pages\n- css: styles, themes, layout\n- a11y: accessibility review';
    const response = await new ScriptedLlmClient().createMessage({
      model: 'm', max_tokens: 100, system: [{ type: 'text', text: system }], messages: [{ role: 'user', content: 'Task: style the settings page with a dark theme' }],
    });

    expect(JSON.parse(responseText(response))).toEqual({ workers: ['css', 'react'] });
  });

  it('has a Claude-Code-like client write an absolute path under its working directory, then answer', async () => {
    const client = new ScriptedLlmClient();
    const request = {
      model: 'claude-opus-5-5',
      max_tokens: 32000,
      system: [{ type: 'text' as const, text: 'You are a Claude agent.' }],
      tools: ['Agent', 'Bash', 'Edit', 'Read', 'Write'].map(tool),
      messages: [
        { role: 'user' as const, content: [{ type: 'text' as const, text: '<system-reminder>\nattribution\n</system-reminder>\n' }, { type: 'text' as const, text: 'Task: add a users table' }] },
        { role: 'system', content: [{ type: 'text', text: '# Environment\n - Primary working directory: /tmp/project\n' }] },
      ],
    } as unknown as LlmRequest;
    const first = await client.createMessage(request);
    expect(toolUse(first)?.input['file_path']).toBe('/tmp/project/db/migrations/users-table.sql');

    const second = await client.createMessage({
      ...request,
      messages: [...request.messages, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse(first)?.id ?? '', content: 'File created' }] }],
    });
    expect(responseText(second)).toBe('Created db/migrations/users-table.sql for: add a users table. This answer was scripted by the local model server (dan mock-llm).');
  });

  it('says it is the local scripted model for anything else', async () => {
    const response = await new ScriptedLlmClient().createMessage({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'What is 2+2?' }] });

    expect(responseText(response)).toContain('This is the local scripted model (dan mock-llm)');
  });
});
