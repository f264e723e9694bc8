import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { redactUrl } from '../../lib/errors.js';
import { knownSecrets } from '../../lib/logger.js';
import { urlForRole } from '../../lib/redis/acl.js';
import { formatSentinelUrl, isSentinelUrl, parseSentinelUrl } from '../../lib/redis/redis-url.js';
import { networkIdentity } from '../../lib/spawner/docker-spawner.js';
import { redisCommanderLaunch } from '../../src/cli/redis-commander.js';

const url = 'redis+sentinel://main:m%40in-pw@10.0.0.1:26379,sentinel-b,[::1]:26380/mymaster/2?sentinel_password=s-pw&sentinel_username=watch';

describe('Sentinel URLs', () => {
  it('reads hosts (26379 by default, IPv6 in brackets), the master name, the database and both credentials', () => {
    expect(isSentinelUrl(url)).toBe(true);
    expect(isSentinelUrl('redis://localhost:6379')).toBe(false);
    expect(parseSentinelUrl(url)).toEqual({
      sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: 'sentinel-b', port: 26379 }, { host: '::1', port: 26380 }],
      name: 'mymaster', db: 2, username: 'main', password: 'm@in-pw', sentinelUsername: 'watch', sentinelPassword: 's-pw',
    });
    expect(parseSentinelUrl('redis+sentinel://h/m')).toEqual({ sentinels: [{ host: 'h', port: 26379 }], name: 'm', db: 0 });
  });

  it('refuses TLS through Sentinel, which it does not do yet', () => {
    expect(() => loadConfig({ REDIS_URL: 'rediss+sentinel://h1/m' })).toThrow(/rediss\+sentinel:\/\/\) is not supported yet/);
  });

  it('writes back what it reads', () => {
    expect(parseSentinelUrl(formatSentinelUrl(parseSentinelUrl(url)))).toEqual(parseSentinelUrl(url));
  });

  it.each([
    ['redis+sentinel://h1:26379', /master name is missing/],
    ['redis+sentinel:///mymaster', /no Sentinel host/],
    ['redis+sentinel://h1:99999/m', /port of 'h1:99999'/],
    ['redis+sentinel://h1/m/x', /is not \/mastername or \/mastername\/db/],
    ['redis+sentinel://h1/m?password=x', /unknown option 'password'/],
  ])('refuses %s naming the form', (bad, why) => {
    expect(() => parseSentinelUrl(bad)).toThrow(why);
    expect(() => parseSentinelUrl(bad)).toThrow(/redis\+sentinel:\/\/\[user:password@\]host1:26379,host2:26379\/mastername/);
    expect(() => loadConfig({ REDIS_URL: bad })).toThrow(why);
  });

  it('gives an ACL role the master credentials and keeps the Sentinels\' own', () => {
    const agent = parseSentinelUrl(urlForRole(url, 'agent', 'agent-pw'));
    expect(agent).toMatchObject({ username: 'agent', password: 'agent-pw', sentinelUsername: 'watch', sentinelPassword: 's-pw', name: 'mymaster', db: 2 });
    expect(parseSentinelUrl(urlForRole(url, 'admin', 'admin-pw')).username).toBeUndefined();
  });

  it('keeps both passwords out of messages, logs and the Docker network label', () => {
    const redacted = redactUrl(url);
    expect(redacted).not.toContain('m%40in-pw');
    expect(redacted).not.toContain('s-pw');
    expect(redacted).toContain('@10.0.0.1:26379');
    expect(knownSecrets({ REDIS_URL: url.replace('s-pw', 'sentinel-secret') })).toEqual(expect.arrayContaining(['m@in-pw', 'sentinel-secret']));
    const label = networkIdentity(url, 'p:');
    expect(label).not.toMatch(/pw/);
    expect(label).toContain('mymaster');
  });

  it('is refused by dan inspect with the way out', () => {
    expect(() => redisCommanderLaunch(url, 8081)).toThrow(/-r redis:\/\/user:password@host:port/);
  });
});
