import { describe, expect, it } from 'vitest';
import { createLogger, formatLogLine, knownSecrets, redactText } from '../../lib/logger.js';

/** Secrets redacted in every log line: whatever shape a log call gives them, none reaches the output. */

const API_KEY = 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789';
const REDIS_PASSWORD = 'correct-horse-battery';
const REDIS_URL = `redis://:${REDIS_PASSWORD}@redis.internal:6380/2`;
// A secret with no recognisable shape: only knowing its value can catch it.
const OPAQUE = 'q7Zt!plain-token-value';

function capture(secrets: string[] = []) {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', format: 'json', secrets, destination: { write: (line: string) => void lines.push(line) } });
  return { logger, lines, text: () => lines.join('') };
}

function expectClean(text: string, ...secrets: string[]): void {
  for (const secret of [API_KEY, REDIS_PASSWORD, ...secrets]) expect(text).not.toContain(secret);
  expect(text).toContain('[redacted]');
}

describe('log redaction', () => {
  it('blanks API keys and passwords in objects, at the top and nested at any depth', () => {
    const { logger, text, lines } = capture();
    logger.info({ apiKey: API_KEY, password: REDIS_PASSWORD }, 'top level');
    logger.info({ client: { options: { deep: { apiKey: API_KEY, redis: { password: REDIS_PASSWORD } } } } }, 'nested');
    logger.info({ headers: { 'x-api-key': API_KEY, authorization: `Bearer ${API_KEY}` } }, 'headers');
    logger.info({ env: { ANTHROPIC_API_KEY: API_KEY, REDIS_PASSWORD, PATH: '/usr/bin' } }, 'an environment');
    logger.info({ list: [{ token: OPAQUE }, { api_key: API_KEY }] }, 'in a list');
    expectClean(text(), OPAQUE);
    // What is not secret stays readable.
    expect(JSON.parse(lines[3]!).env.PATH).toBe('/usr/bin');
    expect(lines).toHaveLength(5);
  });

  it('hides the password of Redis URLs in messages, fields, format arguments and lists, keeping host and port', () => {
    const { logger, text } = capture();
    logger.info(`connecting to ${REDIS_URL}`);
    logger.info({ url: REDIS_URL, redis: `rediss://admin:${REDIS_PASSWORD}@redis.internal:6380` }, 'fields');
    logger.info('connecting to %s', REDIS_URL);
    logger.warn({ tried: [REDIS_URL, 'redis://localhost:6379'] }, 'in a list');
    const out = text();
    expectClean(out);
    expect(out).toContain('redis://:[redacted]@redis.internal:6380/2');
    expect(out).toContain('rediss://admin:[redacted]@redis.internal:6380');
    expect(out).toContain('redis://localhost:6379');
  });

  it('scrubs errors: logged alone, as err, with a cause, and their stacks', () => {
    const { logger, lines, text } = capture();
    const cause = new Error(`AUTH failed for ${REDIS_URL}`);
    const error = new Error(`could not reach ${REDIS_URL} with key ${API_KEY}`, { cause });
    logger.error(error);
    logger.error({ err: error }, 'as a field');
    logger.warn({ err: { message: `key ${API_KEY}` } }, 'an error-like object');
    expectClean(text());
    const alone = JSON.parse(lines[0]!);
    expect(alone.msg).toBe('could not reach redis://:[redacted]@redis.internal:6380/2 with key [redacted]');
    expect(alone.err.type).toBe('Error');
    expect(alone.err.stack).toContain('log-redaction.test');
    // pino folds the cause into the message and the stack: scrubbed there as well.
    expect(JSON.parse(lines[1]!).err.message).toContain('AUTH failed for redis://:[redacted]@redis.internal:6380/2');
    expect(JSON.parse(lines[1]!).err.stack).toContain('caused by: Error: AUTH failed for redis://:[redacted]@');
  });

  it('blanks the values of secret environment variables and of the REDIS_URL password wherever they appear', () => {
    const secrets = knownSecrets({ ANTHROPIC_API_KEY: OPAQUE, REDIS_URL: `redis://:${encodeURIComponent('p@ss word')}@h:1`, REDIS_PASSWORD: 'abc' });
    expect(secrets).toContain(OPAQUE);
    expect(secrets).toContain('p@ss word');
    // Too short to blank safely: left to the key names and URL patterns.
    expect(secrets).not.toContain('abc');
    // compose's per-user Redis passwords are secrets wherever they appear.
    expect(knownSecrets({ REDIS_AGENT_PASSWORD: 'agent-password-0123', REDIS_MAIN_PASSWORD: 'main-password-0123' })).toEqual(['main-password-0123', 'agent-password-0123']);
    const { logger, text } = capture(secrets);
    logger.info({ note: `the model said: use ${OPAQUE} to log in` }, `password was p@ss word, key ${OPAQUE}`);
    expect(text()).not.toContain(OPAQUE);
    expect(text()).not.toContain('p@ss word');
  });

  it('keeps the pretty format free of secrets too', () => {
    const { logger, lines } = capture();
    logger.info({ redisUrl: REDIS_URL, detail: { password: REDIS_PASSWORD } }, `up on ${REDIS_URL}`);
    const pretty = formatLogLine(lines[0]!, false);
    expect(pretty).toContain('up on redis://:[redacted]@redis.internal:6380/2');
    expect(pretty).not.toContain(REDIS_PASSWORD);
  });

  it('redactText leaves text without secrets unchanged', () => {
    expect(redactText('task 6f1c completed in 120 ms on redis://localhost:6379')).toBe('task 6f1c completed in 120 ms on redis://localhost:6379');
    expect(redactText('mail me at a@b.c')).toBe('mail me at a@b.c');
    expect(redactText('Redis at redis://:***@h:1 refused')).toBe('Redis at redis://:***@h:1 refused');
  });
});
