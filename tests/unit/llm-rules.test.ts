import { describe, expect, it } from 'vitest';
import { defaultRules } from '../../lib/llm/local-server/default-rules.js';
import { loadRulesFile, parseRules } from '../../lib/llm/local-server/rules.js';

describe('rules files', () => {
  it('loads a valid file and puts the default rules behind its own', async () => {
    const loaded = await loadRulesFile('tests/fixtures/llm/rules-demo.json');

    expect(loaded.fileRules.map((r) => r.name)).toEqual(['busy-first', 'greet', 'write-readme']);
    expect(loaded.rules.map((r) => r.name)).toEqual(['busy-first', 'greet', 'write-readme', ...defaultRules().map((r) => r.name)]);
    expect(loaded.useDefaults).toBe(true);
    expect(loaded.fileRules[0]).toMatchObject({ times: 1, reply: { error: { status: 429 } } });
  });

  it('serves the file rules alone when the file says "defaults": false', () => {
    const loaded = parseRules({ rules: [{ name: 'only', reply: { text: 'x' } }], defaults: false }, 'inline.json');

    expect(loaded.rules.map((r) => r.name)).toEqual(['only']);
    expect(loaded.useDefaults).toBe(false);
  });

  it('lists every bad rule with the file, its index and name, and what is wrong', async () => {
    const error: unknown = await loadRulesFile('tests/fixtures/llm/rules-invalid.json').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message.split('\n')).toEqual([
      'rules file tests/fixtures/llm/rules-invalid.json is invalid:',
      expect.stringContaining('rule[1] "bad-regex" when.lastUser: not a valid regular expression'),
      expect.stringContaining('rule[2] "typo-placeholder" reply: {{woh}} is neither a built-in'),
      '  rule[3] "empty-reply" reply: a reply needs text, tool_use or error',
      '  rule[4] "typo-field" when: Unrecognized key: "sytem"',
    ]);
  });

  it('accepts placeholders of built-ins and of named groups in any pattern', () => {
    const rules = [{ name: 'r', when: { model: '(?<family>haiku|opus)', anyText: '(?<thing>\\w+)' }, reply: { text: '{{family}} {{thing}} {{slug}}', tool_use: [{ name: 'Write', input: { file_path: '{{cwd}}/{{Pascal}}.md' } }] } }];

    expect(() => parseRules(rules, 'inline.json')).not.toThrow();
  });

  it('says when a file is missing, is not JSON, or is not a list', async () => {
    await expect(loadRulesFile('tests/fixtures/llm/missing.json')).rejects.toThrow('rules file tests/fixtures/llm/missing.json cannot be read (ENOENT)');
    await expect(loadRulesFile('tests/fixtures/llm/rules-not-json.json')).rejects.toThrow('rules file tests/fixtures/llm/rules-not-json.json is not valid JSON');
    expect(() => parseRules({ name: 'x' }, 'obj.json')).toThrow('rules file obj.json is invalid:\n  expected a JSON list of rules');
  });

  it('checks status codes and stop reasons', () => {
    const rules = [
      { name: 'status', reply: { error: { status: 200, type: 'x', message: 'y' } } },
      { name: 'stop', reply: { text: 'x', stop_reason: 'done' } },
    ];

    expect(() => parseRules(rules, 'f.json')).toThrow(/rule\[0\] "status" reply\.error\.status: .*\n {2}rule\[1\] "stop" reply\.stop_reason/);
  });
});
