import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, packageRoot, SETTING_NAMES, SETTINGS } from '../../lib/config.js';
import { parseEnvFile } from '../../lib/config/env-file.js';
import { agentEnv, FORWARDED_SETTINGS, HOST_PATH_SETTINGS, WITHHELD_SETTINGS, withoutWithheldSettings } from '../../lib/config/agent-env.js';
import { otherValues } from '../support/settings.js';

/** The variable names in the first column of the README's configuration table; `_X` abbreviates the first name's last part. */
function readmeSettings(): Set<string> {
  const readme = readFileSync(path.join(packageRoot(), 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
  const names = new Set<string>();
  for (const row of section.split('\n').filter((line) => line.startsWith('| `'))) {
    const cell = row.split('|')[1] ?? '';
    const written = [...cell.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1] ?? '');
    const first = written[0] ?? '';
    for (const name of written) names.add(name.startsWith('_') ? first.slice(0, first.lastIndexOf('_')) + name : name);
  }
  return names;
}

describe('the settings table', () => {
  it('has every setting documented in the README configuration table', () => {
    const documented = readmeSettings();
    expect(SETTING_NAMES.filter((name) => !documented.has(name))).toEqual([]);
  });

  it('has every setting in .env.example, which dan reads as .env too', () => {
    const example = readFileSync(path.join(packageRoot(), '.env.example'), 'utf8');
    const listed = new Set([...example.matchAll(/^(?:# )?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    expect(SETTING_NAMES.filter((name) => !listed.has(name))).toEqual([]);
    // Copied to .env as it is, it must read without error and give a valid configuration.
    expect(() => loadConfig(parseEnvFile(example, '.env.example'))).not.toThrow();
  });

  it('says for every setting whether agents get it', () => {
    expect([...FORWARDED_SETTINGS, ...HOST_PATH_SETTINGS, ...WITHHELD_SETTINGS].sort()).toEqual([...SETTING_NAMES].sort());
    expect(SETTINGS.DAN_SPAWNER.agents).toBe('main');
    expect(SETTINGS.DAN_DOCKER_MEMORY.agents).toBe('docker');
  });
});

describe('agentEnv', () => {
  it('gives agents every forwarded setting as configured, including the model settings', () => {
    const values = otherValues(FORWARDED_SETTINGS);
    const env = agentEnv(loadConfig(values));
    for (const name of FORWARDED_SETTINGS) expect(env, name).toHaveProperty(name, values[name]);
    expect(env).toMatchObject({ DAN_MODEL_OPUS: values['DAN_MODEL_OPUS'], DAN_MAX_TURNS: values['DAN_MAX_TURNS'], DAN_WORKERS_PER_TASK: values['DAN_WORKERS_PER_TASK'] });
  });

  it('gives the defaults too, so an agent never falls back to a different default of its own', () => {
    const env = agentEnv(loadConfig({}));
    expect(env).toMatchObject({ DAN_LEASE_MS: '30000', DAN_DEFAULT_MODEL: 'sonnet', DAN_KEY_PREFIX: '', DAN_ELF: 'on' });
    expect(env).not.toHaveProperty('DAN_ELF_CLIENTS');
  });

  it('gives host paths as absolute paths', () => {
    const env = agentEnv(loadConfig({ DAN_WORKSPACE: 'ws', DAN_ELF_DIR: 'memory', DAN_AGENTS_DIR: 'defs', DAN_FARM_DIR: 'farm' }));
    for (const [name, folder] of [['DAN_WORKSPACE', 'ws'], ['DAN_ELF_DIR', 'memory'], ['DAN_AGENTS_DIR', 'defs'], ['DAN_FARM_DIR', 'farm']] as const) {
      expect(env[name]).toBe(path.resolve(folder));
    }
  });

  it('never gives what agents must not get', () => {
    const everything = otherValues(SETTING_NAMES);
    const env = agentEnv(loadConfig(everything));
    for (const name of WITHHELD_SETTINGS) expect(env, name).not.toHaveProperty(name);
    expect(env).not.toHaveProperty('DAN_SPAWNER');
    expect(env).not.toHaveProperty('DAN_DOCKER_WORKSPACE');
  });

  it('lets an agent load the same settings its spawner has', () => {
    const spawner = loadConfig(otherValues(FORWARDED_SETTINGS));
    const agent = loadConfig(agentEnv(spawner));
    for (const name of FORWARDED_SETTINGS) expect(agent.settings[name], name).toEqual(spawner.settings[name]);
    expect(agent.llm).toEqual(spawner.llm);
    expect(agent.farm).toEqual(spawner.farm);
  });

  it('takes command-line overrides along', () => {
    expect(agentEnv(loadConfig({ DAN_KEY_PREFIX: 'env' }, { DAN_KEY_PREFIX: 'flag' }))['DAN_KEY_PREFIX']).toBe('flag');
  });
});

describe('withoutWithheldSettings', () => {
  it('drops settings agents must not get and keeps everything else', () => {
    const kept = withoutWithheldSettings({ DAN_SPAWNER: 'docker', DAN_ROUTER: 'llm', DAN_LEASE_MS: '5', PATH: '/bin', ANTHROPIC_API_KEY: 'k' });
    expect(kept).toEqual({ DAN_LEASE_MS: '5', PATH: '/bin', ANTHROPIC_API_KEY: 'k' });
  });
});
