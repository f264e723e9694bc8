import { LuaFileScript } from './lua-file-script.js';

/**
 * The queue's Lua scripts, each in its own `.lua` file (its header says what it does, what each key and
 * argument is and what it returns). The names declared here are the only place KEYS and ARGV are
 * ordered: callers pass objects by name and the scripts read `K.<key>` and `A.<argument>`.
 */

export const claimScript = new LuaFileScript({
  file: 'claim-12.lua',
  common: true,
  keys: ['pending', 'ingest', 'readyHigh', 'readyNormal', 'readyLow', 'active', 'leases', 'dead', 'events', 'logStream',
    'idCounter', 'delayed'],
  args: ['count', 'agentId', 'leaseMs', 'keyPrefix', 'domain', 'drainMax', 'defaultMaxAttempts', 'nowIso', 'retentionS',
    'tokenPrefix', 'graceMs', 'retryBaseMs', 'retryMaxMs', 'maxDepth', 'housekeeping', 'ingestMayHold', 'maxTaskBytes', 'knownClients'],
});

export const finishScript = new LuaFileScript({
  file: 'finish-4.lua',
  common: true,
  keys: ['active', 'leases', 'events', 'logStream'],
  args: ['nowIso', 'retentionS', 'domain', 'agentId', 'keyPrefix'],
});

export const retryScript = new LuaFileScript({
  file: 'retry-6.lua',
  common: true,
  keys: ['task', 'active', 'leases', 'delayed', 'events', 'logStream'],
  args: ['taskId', 'token', 'reason', 'finalOutput', 'nowIso', 'retentionS', 'domain', 'defaultMaxAttempts', 'retryBaseMs',
    'retryMaxMs', 'keyPrefix'],
});

export const renewScript = new LuaFileScript({
  file: 'renew-2.lua',
  common: true,
  keys: ['leases', 'active'],
  args: ['leaseMs', 'keyPrefix', 'domain'],
});

export const reclaimScript = new LuaFileScript({
  file: 'reclaim-5.lua',
  common: true,
  keys: ['leases', 'active', 'delayed', 'events', 'logStream'],
  args: ['mode', 'agentId', 'nowIso', 'retentionS', 'domain', 'defaultMaxAttempts', 'reason', 'retryBaseMs', 'retryMaxMs',
    'keyPrefix'],
});

export const cancelScript = new LuaFileScript({
  file: 'cancel-4.lua',
  common: true,
  keys: ['result', 'events', 'logStream', 'cancelChannel'],
  args: ['taskId', 'error', 'logLine', 'nowIso', 'retentionS', 'keyPrefix', 'by'],
});

export const deadLetterQueueScript = new LuaFileScript({
  file: 'dead-letter-queue-3.lua',
  common: true,
  keys: ['pending', 'dead', 'events'],
  args: ['reason', 'failureCode', 'nowIso', 'retentionS', 'domain', 'max', 'keyPrefix'],
});

export const submitScript = new LuaFileScript({
  file: 'submit-5.lua',
  keys: ['result', 'pending', 'notifications', 'children', 'jobs'],
  // The depth check's other keys are only read, so they are arguments: Redis asks write access of a
  // script's user for every key in KEYS, and `dan send` runs this as the `client` user, which may only
  // read the ready lists, the ingest list and the delayed set (lib/redis/acl.ts). Each LLEN and ZCARD on
  // them is still checked against that user's read rights as it runs.
  // The parent's log list, the log stream and its plan, written only for a sub-task sent with its
  // parent's lines or plan (by the main orchestrator, whose user may), are arguments for the same reason.
  args: ['taskId', 'raw', 'domain', 'parentId', 'childrenTtlMs', 'clientId', 'description', 'nowMs', 'trimBeforeMs', 'maxDepth',
    'ingest', 'readyHigh', 'readyNormal', 'readyLow', 'delayed', 'parentLogs', 'logStream', 'logAgent', 'logDomain', 'planKey', 'plan', 'planTtlMs'],
});

export const retryDeadLetterScript = new LuaFileScript({
  file: 'retry-dead-letter-3.lua',
  keyTable: true,
  keys: ['dead', 'pending', 'logStream'],
  args: ['entry', 'taskId', 'domain', 'notifications', 'logLine', 'by', 'keyPrefix'],
});
