import type { Config } from '../config.js';
import { settingsUsed, type SettingName } from './settings.js';

/** Settings every spawned agent gets as parsed (`forward` in the settings table). */
export const FORWARDED_SETTINGS: readonly SettingName[] = settingsUsed('forward');

/**
 * Settings that hold a path on this machine (`host-path`): process agents get them as absolute
 * paths; a container gets the path its spawner mounts in their place, or none of them.
 */
export const HOST_PATH_SETTINGS: readonly SettingName[] = settingsUsed('host-path');

/**
 * Settings agents must not get (main-only, Docker-only, the model, per agent, the HTTP API's). A spawner drops them
 * from any environment its agents would otherwise inherit.
 */
export const WITHHELD_SETTINGS: readonly SettingName[] = settingsUsed('main', 'docker', 'model', 'per-agent', 'api');

/**
 * The settings a spawned agent shares with the process that spawns it, generated from the settings
 * table: every forwarded setting and every host path, from the parsed values (so flags given to
 * `dan up` reach its domains too). A setting that is unset and has no default is left out. The model
 * (modelEnv), the agent's identity (the spawner) and secrets (read where used) are added elsewhere.
 */
export function agentEnv(config: Pick<Config, 'settings'>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...FORWARDED_SETTINGS, ...HOST_PATH_SETTINGS]) {
    const value = config.settings[name];
    if (value !== undefined) env[name] = String(value);
  }
  return env;
}

/** `env` without the settings agents must not get: what a spawned process may inherit. */
export function withoutWithheldSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = { ...env };
  for (const name of WITHHELD_SETTINGS) delete kept[name];
  return kept;
}
