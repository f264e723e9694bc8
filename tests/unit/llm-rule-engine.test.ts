import { describe, expect, it } from 'vitest';
import { FALLBACK_TEXT, RuleEngine } from '../../lib/llm/local-server/rule-engine.js';
import { parseRules, type Rule } from '../../lib/llm/local-server/rules.js';
import type { LlmRequest, Message } from '../../lib/llm/types.js';

const ask = (messages: Message[], extra: Partial<LlmRequest> = {}): LlmRequest => ({ model: 'claude-sonnet-5-5', max_tokens: 100, messages, ...extra });
const user = (text: string): Message => ({ role: 'user', content: text });
const writeTool = { name: 'Write', description: 'w', input_schema: { type: 'object' as const, properties: {} } };

describe('RuleEngine', () => {
  it('answers with the first rule that matches, in list order', () => {
    const engine = new RuleEngine([
      { name: 'never', when: { lastUser: 'zebra' }, reply: { text: 'no' } },
      { name: 'first', when: { lastUser: 'hello' }, reply: { text: 'one' } },
      { name: 'second', when: { lastUser: 'hello' }, reply: { text: 'two' } },
    ]);

    expect(engine.decide(ask([user('hello there')]))).toEqual({ rule: 'first', reply: { text: 'one' } });
  });

  it('uses a rule at most `times` times, then falls through to the next', () => {
    const engine = new RuleEngine([
      { name: 'limited', times: 2, reply: { error: { status: 529, type: 'overloaded_error', message: 'busy' } } },
      { name: 'rest', reply: { text: 'ok' } },
    ]);
    const names = [1, 2, 3].map(() => engine.decide(ask([user('x')])).rule);

    expect(names).toEqual(['limited', 'limited', 'rest']);
    engine.setRules([{ name: 'limited', times: 1, reply: { text: 'again' } }]);
    expect(engine.decide(ask([user('x')])).rule).toBe('limited');
  });

  it('gives the fallback text, naming itself, when nothing matches', () => {
    const outcome = new RuleEngine([]).decide(ask([user('x')]));

    expect(outcome).toEqual({ rule: undefined, reply: { text: FALLBACK_TEXT } });
    expect(FALLBACK_TEXT).toContain('local scripted model');
  });

  it('matches the system prompt, the model, any text, and case-insensitively with (?i)', () => {
    const engine = new RuleEngine([
      { name: 'sys', when: { system: '^Role: reviewer$' }, reply: { text: 'system' } },
      { name: 'model', when: { model: 'haiku' }, reply: { text: 'model' } },
      { name: 'any', when: { anyText: '(?i)SECRET WORD' }, reply: { text: 'any' } },
    ]);

    expect(engine.decide(ask([user('x')], { system: [{ type: 'text', text: 'Intro\nRole: reviewer' }] })).rule).toBe('sys');
    expect(engine.decide(ask([user('x')], { model: 'claude-haiku-5-5' })).rule).toBe('model');
    expect(engine.decide(ask([user('the secret word'), { role: 'assistant', content: 'ok' }, user('next')])).rule).toBe('any');
  });

  it('reads tool_result contents as part of the last user message and knows when one is there', () => {
    const engine = new RuleEngine([
      { name: 'after-tool', when: { hasToolResult: true, lastUser: 'exit code (?<code>\\d+)' }, reply: { text: 'code {{code}}' } },
      { name: 'before-tool', when: { hasToolResult: false }, reply: { text: 'first turn' } },
    ]);
    const withResult = ask([
      user('Task: run tests'),
      { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'Bash', input: { command: 'npm test' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'exit code 3' }] },
    ]);

    expect(engine.decide(withResult).reply).toEqual({ text: 'code 3' });
    expect(engine.decide(ask([user('Task: run tests')])).reply).toEqual({ text: 'first turn' });
  });

  it('matches only when the named tool is offered', () => {
    const engine = new RuleEngine([{ name: 'writer', when: { tool: 'Write' }, reply: { text: 'can write' } }]);

    expect(engine.decide(ask([user('x')], { tools: [writeTool] })).rule).toBe('writer');
    expect(engine.decide(ask([user('x')])).rule).toBeUndefined();
  });

  it('renders templates from named groups and built-ins, in text and in tool inputs', () => {
    const { rules } = parseRules(
      [{
        name: 'write',
        when: { system: 'Worker: (?<w>\\S+)', lastUser: '^Task: (?<what>.+)$' },
        reply: {
          text: '{{w}} writes {{slug}} ({{Pascal}}, {{camel}}, {{snake}}) in {{domain}} for {{model}}',
          tool_use: [{ name: 'Write', input: { file_path: 'src/{{slug}}.ts', content: '// {{task}}', meta: { n: 1, tags: ['{{worker}}'] } } }],
        },
      }],
      'inline.json',
    );
    const outcome = new RuleEngine(rules).decide(
      ask([user('Task: Add the Login Form for users')], { system: [{ type: 'text', text: 'Worker: react\nDomain: frontend' }] }),
    );

    expect(outcome.reply.text).toBe('react writes login-form-users (LoginFormUsers, loginFormUsers, login_form_users) in frontend for claude-sonnet-5-5');
    expect(outcome.reply.tool_use).toEqual([
      { name: 'Write', input: { file_path: 'src/login-form-users.ts', content: '// Add the Login Form for users', meta: { n: 1, tags: ['react'] } } },
    ]);
  });

  it('lets a programmatic rule compute its reply from the request facts', () => {
    const rule: Rule = { name: 'count', reply: ({ facts, vars }) => ({ text: `${facts.tools.length} tools, task ${vars['task']}` }) };

    expect(new RuleEngine([rule]).decide(ask([user('Task: ship it')], { tools: [writeTool] })).reply.text).toBe('1 tools, task ship it');
  });
});
