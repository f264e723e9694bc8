import { LuaFileScript } from './lua-file-script.js';

/** The webhook deliveries' scripts (lib/redis/webhooks.ts); each file's header says what it does. */

export const webhookEnqueueScript = new LuaFileScript({
  file: 'webhook-enqueue-3.lua',
  keys: ['webhooks', 'deliveries', 'due'],
  args: [],
});

export const webhookClaimScript = new LuaFileScript({
  file: 'webhook-claim-2.lua',
  keys: ['due', 'deliveries'],
  args: ['max', 'leaseMs', 'busy', 'perHook'],
});

export const webhookSettleScript = new LuaFileScript({
  file: 'webhook-settle-3.lua',
  keys: ['deliveries', 'due', 'log'],
  args: ['deliveryId', 'outcome', 'attempts', 'retryInMs', 'entry', 'logMax'],
});
