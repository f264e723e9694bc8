import { LuaFileScript } from './lua-file-script.js';

/**
 * The agent registry's Lua scripts (lib/redis/heartbeat-registry.ts), each in its own `.lua` file whose
 * header says what each key and argument is and what it returns.
 */

/** One round trip for an agent and all its workers: their keys come from the key table. */
export const heartbeatScript = new LuaFileScript({
  file: 'heartbeat-0.lua',
  keyTable: true,
  keys: [],
  args: ['keyPrefix', 'nowIso', 'ttlMs'],
});

export const deregisterScript = new LuaFileScript({
  file: 'deregister-7.lua',
  keys: ['all', 'domains', 'workers', 'ofDomain', 'info', 'heartbeat', 'main'],
  args: ['agentId', 'domain'],
});
