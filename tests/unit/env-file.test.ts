import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadEnvFile, parseEnvFile } from '../../lib/config/env-file.js';

describe('parseEnvFile', () => {
  it('reads KEY=VALUE lines, skipping blank lines and comments', () => {
    const text = '# settings\n\nREDIS_URL=redis://h:1\n  DAN_KEY_PREFIX = team-a  \n#DAN_ROUTER=llm\n';
    expect(parseEnvFile(text, '.env')).toEqual({ REDIS_URL: 'redis://h:1', DAN_KEY_PREFIX: 'team-a' });
  });

  it('accepts an export prefix, empty values, and a comment after an unquoted value', () => {
    expect(parseEnvFile('export DAN_LOG_LEVEL=debug\nANTHROPIC_API_KEY=\nDAN_ROUTER=llm # the model routes\n', '.env'))
      .toEqual({ DAN_LOG_LEVEL: 'debug', ANTHROPIC_API_KEY: '', DAN_ROUTER: 'llm' });
  });

  it('keeps single-quoted values as written and reads escapes in double quotes', () => {
    const text = `A='a # not a comment \\n'\nB="line\\none \\"q\\" \\\\"\nC="x" # note\nD=has=equals\n`;
    expect(parseEnvFile(text, '.env')).toEqual({ A: 'a # not a comment \\n', B: 'line\none "q" \\', C: 'x', D: 'has=equals' });
  });

  it('reads Windows line ends and a byte order mark', () => {
    expect(parseEnvFile('\uFEFFA=1\r\nB=2\r\n', '.env')).toEqual({ A: '1', B: '2' });
  });

  it.each([
    ['a line without =', 'A=1\nnot a setting\n', /\.env:2: expected KEY=VALUE, got 'not a setting'/],
    ['a bad name', 'A=1\n\n1BAD=x\n', /\.env:3: '1BAD' is not a variable name/],
    ['an unclosed quote', 'A="open\n', /\.env:1: the value has no closing "/],
    ['text after the quotes', "A='x' y\n", /\.env:1: unexpected text after the closing quote/],
  ])('refuses %s, naming the file and line', (_what, text, message) => {
    expect(() => parseEnvFile(text, '.env')).toThrow(message);
  });
});

describe('loadEnvFile', () => {
  it('adds what the environment does not set, and leaves exported variables alone', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dan-envfile-'));
    try {
      const file = path.join(dir, '.env');
      writeFileSync(file, 'DAN_KEY_PREFIX=from-file\nDAN_ROUTER=llm\nDAN_LOG_LEVEL=debug\n');
      const env: NodeJS.ProcessEnv = { DAN_KEY_PREFIX: 'exported', DAN_LOG_LEVEL: '' };
      expect(loadEnvFile(file, env)).toEqual(['DAN_ROUTER']);
      expect(env).toEqual({ DAN_KEY_PREFIX: 'exported', DAN_ROUTER: 'llm', DAN_LOG_LEVEL: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is no error when there is no file', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(loadEnvFile(path.join(os.tmpdir(), 'dan-no-such-folder', '.env'), env)).toEqual([]);
    expect(env).toEqual({});
  });
});
