import { COMMON_LUA } from './common.js';

/**
 * finish: ends a leased task, only if the caller still holds its lease (the token matches), so an
 * agent whose lease lapsed cannot overwrite the result of the attempt that replaced it.
 *
 * KEYS: 1 dan:task:{id}  2 tasks:active:{d}  3 dan:leases:{d}  4 dan:events  5 dan:logs
 * ARGV: 1 task id  2 lease token  3 status (completed|failed)  4 output (JSON text)  5 error (one line)
 *       6 now (ISO)  7 retention s  8 domain  9 result key prefix  10 last log line ('' for none)
 *       11 agent id
 * Returns: 1 finished, 0 lease lost (nothing written).
 */
export const FINISH_LUA = `${COMMON_LUA}
LOG.stream = KEYS[5]
local f = redis.call('HMGET', KEYS[1], 'raw', 'token', 'attempts')
if not f[2] or f[2] ~= ARGV[2] then return 0 end
redis.call('LREM', KEYS[2], 1, f[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[1])
if ARGV[10] ~= '' then task_log(ARGV[9], ARGV[1], ARGV[11], ARGV[8], ARGV[10]) end
finish_result(ARGV[9], KEYS[4], ARGV[1], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], tonumber(f[3]) or 1, f[1])
return 1
`;

/**
 * renew: extends the leases an agent still holds; reports the ones it lost.
 *
 * KEYS: 1 dan:leases:{d}
 * ARGV: 1 lease ms  2 task key prefix  then pairs: task id, lease token
 * Returns: the ids whose lease is no longer this caller's (the caller should stop that work).
 */
export const RENEW_LUA = `${COMMON_LUA}
local now = now_ms()
local lost = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', ARGV[2] .. id, 'token') == token then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), id)
  else
    table.insert(lost, id)
  end
end
return lost
`;

/**
 * reclaim: hands leased tasks back to the queue: those whose lease lapsed (mode 'expired') or all of
 * one dead agent's (mode 'owner'). Tasks out of attempts fail with the history in their log.
 *
 * KEYS: 1 dan:leases:{d}  2 tasks:active:{d}  3 tasks:pending:{d}  4 dan:events  5 dan:logs
 * ARGV: 1 mode  2 agent id (mode owner)  3 task key prefix  4 result key prefix  5 now (ISO)
 *       6 retention s  7 domain  8 default max attempts  9 reason
 * Returns: {requeued, failed}.
 */
export const RECLAIM_LUA = `${COMMON_LUA}
LOG.stream = KEYS[5]
local ids
if ARGV[1] == 'expired' then
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, 200)
else
  ids = {}
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if redis.call('HGET', ARGV[3] .. id, 'owner') == ARGV[2] then table.insert(ids, id) end
  end
end
local requeued, failed = 0, 0
for _, id in ipairs(ids) do
  local r = requeue(id, ARGV[9], ARGV[3], ARGV[4], KEYS[2], KEYS[1], KEYS[3], KEYS[4], ARGV[7], ARGV[5],
    tonumber(ARGV[6]), tonumber(ARGV[8]))
  if r == 1 then requeued = requeued + 1 elseif r == 2 then failed = failed + 1 end
end
return { requeued, failed }
`;

/**
 * dead_letter_queue: empties a pending queue nobody may serve (an unknown domain) into its dead-letter
 * list, the reason next to each raw item; tasks with a recoverable id are marked failed.
 *
 * KEYS: 1 tasks:pending:{d}  2 tasks:dead:{d}  3 dan:events
 * ARGV: 1 reason  2 result key prefix  3 now (ISO)  4 retention s  5 domain  6 most items
 * Returns: how many items were moved.
 */
export const DEAD_LETTER_QUEUE_LUA = `${COMMON_LUA}
local items = redis.call('RPOP', KEYS[1], tonumber(ARGV[6]))
if not items then return 0 end
for _, raw in ipairs(items) do
  dead_letter(KEYS[2], KEYS[3], ARGV[2], raw, ARGV[1], ARGV[5], ARGV[3], tonumber(ARGV[4]))
end
return #items
`;
