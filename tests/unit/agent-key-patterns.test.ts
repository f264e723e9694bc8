import { describe, expect, it } from 'vitest';
import { agentKeyPatterns, aclRules } from '../../lib/redis/acl.js';
import { fillKey, KEY_TEMPLATES, Keys, MAIN_ONLY_KEYS, type KeyParts, type KeyTemplate } from '../../lib/redis/keys.js';
import { FarmKeys, farmIndexKey } from '../../lib/farm/farm-keys.js';

/**
 * The `agent` Redis user's keys come from the templates of lib/redis/keys.ts: every key agents use
 * is reachable, the gateway's tokens never are, and what main alone writes agents can only read.
 */

/** Redis' glob (`*`, `?`, `\` escapes; none of our patterns use `[...]`) as a regular expression. */
function globMatches(pattern: string, key: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\') source += (pattern[++i] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else source += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's').test(key);
}

/** `full`, `read` or `none`: what the agent user's rules allow on `key`. */
function agentAccess(prefix: string, key: string): 'full' | 'read' | 'none' {
  const rules = agentKeyPatterns(prefix);
  if (rules.some((rule) => rule.startsWith('~') && globMatches(rule.slice(1), key))) return 'full';
  if (rules.some((rule) => rule.startsWith('%R~') && globMatches(rule.slice(3), key))) return 'read';
  return 'none';
}

const names = Object.keys(KEY_TEMPLATES) as KeyTemplate[];
const sample = (name: KeyTemplate) => ['task-1:a', 'src/a b.ts'].slice(0, KEY_TEMPLATES[name].split('{}').length - 1) as KeyParts<typeof name>;

describe.each(['', 'team-a:'])('the agent Redis user, keys under prefix %j', (prefix) => {
  it('reaches every key of the layout but the model gateway tokens, and only reads what main alone writes', () => {
    for (const name of names) {
      const expected = MAIN_ONLY_KEYS[name] === 'none' ? 'none' : MAIN_ONLY_KEYS[name] === 'read' ? 'read' : 'full';
      expect(agentAccess(prefix, fillKey(prefix, name, ...sample(name))), name).toBe(expected);
    }
    const keys = new Keys(prefix);
    expect(agentAccess(prefix, keys.gatewayTokens())).toBe('none');
    expect(agentAccess(prefix, keys.apiKeys())).toBe('none');
    expect(agentAccess(prefix, keys.agentsSpawned())).toBe('read');
    for (const key of [keys.pending('backend'), keys.ready('backend', 'high'), keys.logs('t1'), keys.task('t1'), keys.heartbeat('backend-1'), keys.elfRequests(), keys.events(), farmIndexKey(keys), new FarmKeys(keys, 'f1').lock('src/x.ts')]) {
      expect(agentAccess(prefix, key), key).toBe('full');
    }
  });

  it("keeps agents to their network's keys, where main has all of them", () => {
    expect(agentAccess(prefix, 'other:tasks:pending:backend')).toBe('none');
    expect(aclRules('main', prefix)).toContain(`~${prefix}*`);
    expect(aclRules('agent', prefix)).not.toContain(`~${prefix}*`);
  });
});
