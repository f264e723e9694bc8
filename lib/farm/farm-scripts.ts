import { LuaFileScript } from '../redis/lua/lua-file-script.js';

/**
 * The farm's multi-key state changes, each one script so that a lock, its owner and the event that
 * records it can never disagree. Each lives in lib/farm/lua/ (its header says what each key and
 * argument is and what it returns); keys a script learns while running (a chunk's files) come from
 * the generated key table, under the farm's id.
 */

/** The farm's `.lua` files, next to this module (`npm run build` copies them to dist). */
const FARM_LUA_DIR = new URL('./lua/', import.meta.url);

/** Hands back lapsed chunks, then claims the first free queued chunk for an agent. */
export const claimChunkScript = new LuaFileScript({
  file: 'farm-claim-4.lua',
  dir: FARM_LUA_DIR,
  keyTable: true,
  keys: ['queue', 'leases', 'events', 'agentLocks'],
  args: ['keyPrefix', 'farmId', 'agent', 'nowMs', 'leaseMs', 'lockMs'],
});

/** Takes, keeps or refuses one file's lock before or after an edit. */
export const editLockScript = new LuaFileScript({
  file: 'farm-edit-lock-3.lua',
  dir: FARM_LUA_DIR,
  keys: ['lock', 'agentLocks', 'events'],
  args: ['agent', 'file', 'lockMs', 'phase'],
});

/** Releases every lock an agent still owns. */
export const releaseLocksScript = new LuaFileScript({
  file: 'farm-release-2.lua',
  dir: FARM_LUA_DIR,
  keyTable: true,
  keys: ['agentLocks', 'events'],
  args: ['keyPrefix', 'farmId', 'agent'],
});

/** Keeps an agent's locks and its chunk's lease alive. */
export const renewScript = new LuaFileScript({
  file: 'farm-renew-2.lua',
  dir: FARM_LUA_DIR,
  keyTable: true,
  keys: ['agentLocks', 'leases'],
  args: ['keyPrefix', 'farmId', 'agent', 'lockMs', 'chunkId', 'leaseExpiryMs'],
});
