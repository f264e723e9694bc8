import { afterEach, describe, expect, it } from 'vitest';
import { scrubJson, scrubText, scrubValue } from '../../lib/scrub.js';

const saved = process.env['ANTHROPIC_AUTH_TOKEN'];
afterEach(() => {
  if (saved === undefined) delete process.env['ANTHROPIC_AUTH_TOKEN'];
  else process.env['ANTHROPIC_AUTH_TOKEN'] = saved;
});

describe('the scrub of stored text', () => {
  it('blanks secrets by shape and the values of this process\'s secret variables, as the logger does', () => {
    process.env['ANTHROPIC_AUTH_TOKEN'] = 'tok-VALUEONLY-123456';
    expect(scrubText('key sk-ant-api03-ABCDEFGHijkl url redis://:hunter2@h:1/0 token tok-VALUEONLY-123456'))
      .toBe('key [redacted] url redis://:[redacted]@h:1/0 token [redacted]');
  });

  it('scrubs every string of a result, at any depth, in values and keys, and keeps the rest', () => {
    process.env['ANTHROPIC_AUTH_TOKEN'] = 'tok-VALUEONLY-123456';
    let deep: unknown = { leaf: 'tok-VALUEONLY-123456' };
    for (let i = 0; i < 20; i++) deep = { nested: deep };
    const output = { summary: 'sent sk-ant-api03-ABCDEFGHijkl', n: 3, ok: true, list: ['redis://u:pw12@h'], deep, 'tok-VALUEONLY-123456': 1 };
    const json = scrubJson(output);
    expect(json).not.toMatch(/sk-ant-api03|pw12|tok-VALUEONLY/);
    expect(JSON.parse(json)).toMatchObject({ summary: 'sent [redacted]', n: 3, ok: true, list: ['redis://u:[redacted]@h'] });
    expect(JSON.stringify(scrubValue(output))).toBe(json);
  });

  it('sees a secret variable changed since its last call, even in the same turn of the event loop', () => {
    // Why the scrub reads the variables on every call: a cache kept for one turn would miss this.
    process.env['ANTHROPIC_AUTH_TOKEN'] = 'tok-FIRST-VALUE-1';
    expect(scrubText('a tok-FIRST-VALUE-1')).toBe('a [redacted]');
    process.env['ANTHROPIC_AUTH_TOKEN'] = 'tok-SECOND-VALUE-2';
    expect(scrubText('a tok-FIRST-VALUE-1 b tok-SECOND-VALUE-2')).toBe('a tok-FIRST-VALUE-1 b [redacted]');
  });

  it('finds a key or secret that follows an escape in the JSON text (a newline, a quote) as in a plain string', () => {
    process.env['ANTHROPIC_AUTH_TOKEN'] = 'tok-"QUOTED"-123456';
    const json = scrubJson({ plain: 'key sk-ant-api03-ABCDEFGHijkl', lines: 'first\nsk-ant-api03-ABCDEFGHijkl', quoted: 'a tok-"QUOTED"-123456 b' });
    expect(JSON.parse(json)).toEqual({ plain: 'key [redacted]', lines: 'first\n[redacted]', quoted: 'a [redacted] b' });
  });
});
