import { LuaFileScript } from './lua-file-script.js';

/** The approval gate's scripts (lib/redis/approvals.ts); each file's header says what it does. */

export const approvalParkScript = new LuaFileScript({
  file: 'approval-park-8.lua',
  common: true,
  keys: ['task', 'active', 'leases', 'result', 'approvals', 'approvalTasks', 'events', 'logStream'],
  args: ['taskId', 'token', 'windowMs', 'plan', 'nowIso', 'domain', 'priority', 'agentId', 'logLine', 'keyPrefix'],
});

export const approvalDecideScript = new LuaFileScript({
  file: 'approval-decide-5.lua',
  common: true,
  keys: ['result', 'approvals', 'approvalTasks', 'events', 'logStream'],
  args: ['taskId', 'decision', 'by', 'reason', 'nowIso', 'retentionS', 'logLine', 'keyPrefix'],
});

export const approvalExpireScript = new LuaFileScript({
  file: 'approval-expire-4.lua',
  common: true,
  keys: ['approvals', 'approvalTasks', 'events', 'logStream'],
  args: ['nowIso', 'retentionS', 'max', 'by', 'keyPrefix'],
});
