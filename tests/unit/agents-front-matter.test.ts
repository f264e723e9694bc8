import { describe, expect, it } from 'vitest';
import { AgentDefinitionError, parseFrontMatter } from '../../lib/agents/front-matter.js';

function problem(text: string): AgentDefinitionError {
  try {
    parseFrontMatter(text, 'agents/x/domain.md');
  } catch (error) {
    expect(error).toBeInstanceOf(AgentDefinitionError);
    return error as AgentDefinitionError;
  }
  throw new Error('expected the front matter to be rejected');
}

describe('parseFrontMatter', () => {
  it('reads scalars, quoted strings, inline and block lists, and the body', () => {
    const text = [
      '---',
      'name: api',
      'description: "Endpoints: routes, \\"validation\\" and tests"',
      "quote: 'it''s fine'",
      'retries: 3',
      'ratio: 0.5',
      'default: true',
      'fallback: false',
      'model: null',
      'tools: [Read, "Edit", \'Bash\']',
      'empty: []',
      '# a comment line',
      'keywords:   # words users write',
      '  - endpoint',
      '  - "rest api"',
      '- route handler',
      '---',
      '',
      'You are the api worker.',
      '',
    ].join('\n');
    const parsed = parseFrontMatter(text, 'api.md');
    expect(parsed.data).toEqual({
      name: 'api',
      description: 'Endpoints: routes, "validation" and tests',
      quote: "it's fine",
      retries: 3,
      ratio: 0.5,
      default: true,
      fallback: false,
      model: null,
      tools: ['Read', 'Edit', 'Bash'],
      empty: [],
      keywords: ['endpoint', 'rest api', 'route handler'],
    });
    expect(parsed.lines['keywords']).toBe(13);
    expect(parsed.body).toBe('You are the api worker.');
    expect(parsed.bodyLine).toBe(18);
  });

  it('accepts Windows line endings and a byte-order mark', () => {
    const parsed = parseFrontMatter('\uFEFF---\r\nname: css\r\nafter: [react]\r\n---\r\nBody\r\n', 'css.md');
    expect(parsed.data).toEqual({ name: 'css', after: ['react'] });
    expect(parsed.body).toBe('Body');
  });

  it('keeps a # that is not preceded by a space, and strips trailing comments', () => {
    const parsed = parseFrontMatter('---\ndescription: C# services # the comment\nurl: "a # b"\n---\nx', 'f.md');
    expect(parsed.data).toEqual({ description: 'C# services', url: 'a # b' });
  });

  it('requires an opening and a closing fence', () => {
    expect(problem('name: api\n').message).toBe("agents/x/domain.md:1: the file must start with a '---' line, then the front matter (name: ..., description: ...), then another '---' line");
    expect(problem('---\nname: api\nbody').message).toMatch(/^agents\/x\/domain\.md:1: the front matter opened on line 1 is never closed/);
  });

  it('names the line of a malformed field', () => {
    expect(problem('---\nname: api\nthis is not a field\n---\n').message).toBe("agents/x/domain.md:3: expected 'key: value' but found 'this is not a field'");
    expect(problem('---\nname: api\n  nested: value\n---\n').message).toMatch(/^agents\/x\/domain\.md:3: indented line 'nested: value': nested fields are not supported/);
  });

  it('names the line of a duplicate key, an orphan list item and a bad list', () => {
    expect(problem('---\nname: a\ndescription: b\nname: c\n---\n').message).toBe("agents/x/domain.md:4: field 'name' is set twice (first on line 2): keep one");
    expect(problem('---\nname: a\n- stray\n---\n').message).toMatch(/^agents\/x\/domain\.md:3: list item '- stray' does not belong to a field/);
    expect(problem('---\nname: a\nkeywords: [a, b\n---\n').message).toMatch(/^agents\/x\/domain\.md:3: list '\[a, b' is not closed/);
    expect(problem('---\nname: a\nkeywords: [a, , b]\n---\n').message).toMatch(/^agents\/x\/domain\.md:3: empty item in list/);
    expect(problem('---\nname: a\nkeywords: [a, [b]]\n---\n').message).toMatch(/^agents\/x\/domain\.md:3: nested lists and mappings are not supported/);
  });

  it('names the line of a bad quoted string and of multi-line values', () => {
    expect(problem('---\ndescription: "open\n---\n').message).toMatch(/^agents\/x\/domain\.md:2: unterminated " quote/);
    expect(problem('---\ndescription: "a" b\n---\n').message).toMatch(/^agents\/x\/domain\.md:2: unexpected text after the closing quote/);
    expect(problem('---\nname: a\ndescription: |\n---\n').message).toMatch(/^agents\/x\/domain\.md:3: field 'description': multi-line strings are not supported/);
  });

  it('is a DanError with a stable code that is not retried', () => {
    const error = problem('oops');
    expect(error.code).toBe('invalid_agent_definition');
    expect(error.retryable).toBe(false);
    expect(error.file).toBe('agents/x/domain.md');
    expect(error.line).toBe(1);
  });
});
