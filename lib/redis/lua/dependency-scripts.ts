import { LuaFileScript } from './lua-file-script.js';

/**
 * The dependency scripts (lib/redis/task-dependencies.ts). Their release half lives in common.lua
 * (`release_dependents`), run by every script that ends a task.
 */
export const submitAfterScript = new LuaFileScript({
  file: 'submit-after-1.lua',
  keyTable: true,
  keys: ['jobs'],
  args: ['keyPrefix', 'clientId', 'nowMs', 'trimBeforeMs', 'childrenTtlMs', 'nowIso', 'batch'],
});
