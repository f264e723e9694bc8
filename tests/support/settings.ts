import { z } from 'zod';
import { SETTINGS, type SettingName } from '../../lib/config.js';

/**
 * A valid value, different from the default, for each named setting, found from its schema alone so
 * a setting added to the table is covered without touching the tests: a number grows (2n + 1 keeps
 * the heartbeat's expiry above its interval), an enum takes another of its options, text a marked value.
 */
export function otherValues(names: readonly SettingName[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, otherValue(name)]));
}

function otherValue(name: SettingName): string {
  const schema: z.ZodType = SETTINGS[name].schema();
  const fallback: unknown = schema.parse(undefined);
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional || inner instanceof z.ZodPrefault) inner = inner.unwrap() as z.ZodType;
  const candidates = typeof fallback === 'number'
    ? [fallback * 2 + 1, fallback + 1].map(String)
    : inner instanceof z.ZodEnum
      ? inner.options.map(String)
      // Text, or text of a format: a size, host:port, a URL, a token of 32 characters or more, uid:gid, a list of roles, forwards, a JSON table of model limits, a price table, a number, a pod's UID.
      : [`test-${name.toLowerCase().replaceAll('_', '-')}`, '300m', '127.0.0.1:4011', 'http://test-host:4011', 'test-token-'.padEnd(40, '0'), '1001:1001', 'coder', '127.0.0.1:4011=/run/dan/test.sock', '{"test-model":{"rpm":1}}', '{"test-model":{"input":1,"output":2}}', '12.5', '3f2c1a9e-7b4d-4c1e-9a8f-0d2e5b6c7a81'];
  const found = candidates.find((text) => {
    const parsed = schema.safeParse(text);
    return parsed.success && parsed.data !== fallback;
  });
  if (found === undefined) throw new Error(`no test value for ${name}: add a candidate of its format to tests/support/settings.ts`);
  return found;
}
