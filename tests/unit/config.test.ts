import { describe, expect, it } from 'vitest';
import { loadConfig, resolveModel, SETTINGS } from '../../lib/config.js';
import { parseSettings } from '../../lib/config/settings.js';

describe('loadConfig', () => {
  it('has working defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ redisUrl: 'redis://localhost:6379', keyPrefix: '', router: 'score', spawner: 'process', leaseMs: 30_000, retentionMs: 604_800_000, domainIdleMs: 300_000 });
    expect(config.llm.hasApiKey).toBe(false);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('lists every problem at once', () => {
    expect(() => loadConfig({ DAN_ROUTER: 'magic', DAN_LEASE_MS: '-1' })).toThrow(/DAN_ROUTER[\s\S]*DAN_LEASE_MS|DAN_LEASE_MS[\s\S]*DAN_ROUTER/);
  });

  it('parses each setting with its own schema, naming every problem in the table\'s order with where inside the value it is', () => {
    expect(parseSettings({ DAN_ROLES: 'coder,poet', DAN_LEASE_MS: '-1', DAN_ROUTER: 'magic' })).toEqual({
      problems: [
        { path: 'DAN_ROUTER', message: expect.stringMatching(/score|llm/) },
        { path: 'DAN_LEASE_MS', message: expect.any(String) },
        { path: 'DAN_ROLES.1', message: expect.stringMatching(/must list roles of/) },
      ],
    });
    const parsed = parseSettings({ DAN_LEASE_MS: '5000' });
    expect('settings' in parsed && parsed.settings).toMatchObject({ DAN_LEASE_MS: 5000, DAN_ROUTER: 'score', DAN_AGENTS_DIR: undefined });
  });

  it('builds a setting\'s schema when it is used, so none outlives the parse that needed it', () => {
    expect(SETTINGS.DAN_LEASE_MS.schema()).not.toBe(SETTINGS.DAN_LEASE_MS.schema());
  });

  it('refuses a heartbeat expiry that is not longer than the interval', () => {
    expect(() => loadConfig({ DAN_HEARTBEAT_INTERVAL_MS: '10000', DAN_HEARTBEAT_TTL_MS: '5000' })).toThrow(/DAN_HEARTBEAT_TTL_MS/);
  });

  it('lets command-line overrides win over the environment', () => {
    expect(loadConfig({ REDIS_URL: 'redis://env:1' }, { REDIS_URL: 'redis://flag:2' }).redisUrl).toBe('redis://flag:2');
  });

  it('reads DAN_CLIENTS as lower-case client names (empty: any client), which the ELF serves too unless DAN_ELF_CLIENTS says otherwise', () => {
    expect(loadConfig({ DAN_CLIENTS: ' Acme, beta ,' })).toMatchObject({ clients: ['acme', 'beta'], elf: { clients: ['default', 'acme', 'beta'] } });
    expect(loadConfig({ DAN_CLIENTS: '' }).clients).toBeUndefined();
    expect(loadConfig({}).elf.clients).toBeUndefined();
    expect(loadConfig({ DAN_CLIENTS: 'acme', DAN_ELF_CLIENTS: 'beta' }).elf.clients).toEqual(['beta']);
    expect(() => loadConfig({ DAN_CLIENTS: 'acme,../etc' })).toThrow(/DAN_CLIENTS.*must be client names/);
  });

  it('maps model aliases to configured ids and passes other ids through', () => {
    const config = loadConfig({ DAN_MODEL_HAIKU: 'claude-haiku-test' });
    expect(resolveModel(config, 'haiku')).toBe('claude-haiku-test');
    expect(resolveModel(config, 'claude-opus-4-8')).toBe('claude-opus-4-8');
    expect(resolveModel(config, 'inherit')).toBe(config.llm.models.sonnet);
  });
});
