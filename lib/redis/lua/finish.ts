import { COMMON_LUA } from './common.js';

/**
 * finish: ends a leased task, only if the caller still holds its lease (the token matches), so an
 * agent whose lease lapsed cannot overwrite the result of the attempt that replaced it. A failure of a
 * task that had earlier attempts carries their history in `output.attempt_history`.
 *
 * KEYS: 1 dan:task:{id}  2 tasks:active:{d}  3 dan:leases:{d}  4 dan:events  5 dan:logs
 * ARGV: 1 task id  2 lease token  3 status (completed|failed)  4 output (JSON text)  5 error (one line)
 *       6 now (ISO)  7 retention s  8 domain  9 result key prefix  10 last log line ('' for none)
 *       11 agent id
 * Returns: 1 finished, 0 lease lost (nothing written).
 */
export const FINISH_LUA = `${COMMON_LUA}
LOG.stream = KEYS[5]
local f = redis.call('HMGET', KEYS[1], 'raw', 'token', 'attempts', 'history', 'started_at')
if not f[2] or f[2] ~= ARGV[2] then return 0 end
redis.call('LREM', KEYS[2], 1, f[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local output = ARGV[4]
if ARGV[3] == 'failed' and f[4] then
  output = with_history(output, add_history(KEYS[1], f[4], tonumber(f[3]) or 1, ARGV[11], f[5] or '', ARGV[6], ARGV[5]))
end
redis.call('DEL', KEYS[1])
if ARGV[10] ~= '' then task_log(ARGV[9], ARGV[1], ARGV[11], ARGV[8], ARGV[10]) end
finish_result(ARGV[9], KEYS[4], ARGV[1], ARGV[3], output, ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8], tonumber(f[3]) or 1, f[1])
return 1
`;

/**
 * retry: ends the caller's attempt at a task with a failure that may pass (a rate-limited or failing
 * model API, a crashed worker): the task waits in dan:delayed:{d} with backoff and runs again, or fails
 * with its attempt history once its attempts are spent. Only the lease holder may do this.
 *
 * KEYS: 1 dan:task:{id}  2 tasks:active:{d}  3 dan:leases:{d}  4 dan:delayed:{d}  5 dan:events  6 dan:logs
 * ARGV: 1 task id  2 lease token  3 reason (one line)  4 output for the final failure (JSON text)
 *       5 now (ISO)  6 retention s  7 domain  8 task key prefix  9 result key prefix
 *       10 default max attempts  11 retry base ms  12 retry cap ms
 * Returns: 1 requeued, 2 failed (out of attempts), 0 lease lost (nothing written).
 */
export const RETRY_LUA = `${COMMON_LUA}
LOG.stream = KEYS[6]
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[2] then return 0 end
local Q = { task_prefix = ARGV[8], result_prefix = ARGV[9], active = KEYS[2], leases = KEYS[3], delayed = KEYS[4],
  events = KEYS[5], domain = ARGV[7], now_iso = ARGV[5], retention = tonumber(ARGV[6]),
  default_max = tonumber(ARGV[10]), base = tonumber(ARGV[11]), cap = tonumber(ARGV[12]) }
return retry_or_fail(ARGV[1], ARGV[3], Q, ARGV[4])
`;

/**
 * cancel: ends a task that has not ended yet as `failed` with the given error, wherever it is: waiting
 * (a consumer drops it when it comes up), delayed for a retry, or running (the lease and its record go,
 * so the runner's own finish is refused, and `dan:cancel` tells the runner to abort its worker).
 *
 * KEYS: 1 results:{id}  2 dan:events  3 dan:logs  4 dan:cancel
 * ARGV: 1 task id  2 error  3 log line (with time)  4 now (ISO)  5 retention s  6 task key prefix
 *       7 key prefix (for the task's domain keys)  8 who asked
 * Returns: {'cancelled', owner} | {'ended', status} | {'not_found'}.
 */
export const CANCEL_LUA = `${COMMON_LUA}
LOG.stream = KEYS[3]
local id, err, prefix = ARGV[1], ARGV[2], ARGV[7]
local result_prefix = string.sub(KEYS[1], 1, #KEYS[1] - #id)
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return { 'not_found' } end
if status == 'completed' or status == 'failed' then return { 'ended', status } end
local tkey = ARGV[6] .. id
local f = redis.call('HMGET', tkey, 'raw', 'domain', 'owner', 'attempts')
local domain = f[2] or redis.call('HGET', KEYS[1], 'domain') or '?'
local owner = f[3] or ''
if f[1] then
  redis.call('ZREM', prefix .. 'dan:leases:' .. domain, id)
  redis.call('ZREM', prefix .. 'dan:delayed:' .. domain, id)
  redis.call('LREM', prefix .. 'tasks:active:' .. domain, 1, f[1])
  redis.call('DEL', tkey)
end
task_log(result_prefix, id, ARGV[8], domain, ARGV[3])
finish_result(result_prefix, KEYS[2], id, 'failed', cjson.encode({ error = err, cancelled_by = ARGV[8] }), err, ARGV[4],
  tonumber(ARGV[5]), domain, tonumber(f[4]) or 0, f[1])
redis.call('PUBLISH', KEYS[4], id)
return { 'cancelled', owner }
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
 * reclaim: ends the current attempt of leased tasks whose lease lapsed (mode 'expired') or of all of one
 * dead agent's (mode 'owner'): each is retried after a backoff, or fails with its attempt history once
 * its attempts are spent.
 *
 * KEYS: 1 dan:leases:{d}  2 tasks:active:{d}  3 dan:delayed:{d}  4 dan:events  5 dan:logs
 * ARGV: 1 mode  2 agent id (mode owner)  3 task key prefix  4 result key prefix  5 now (ISO)
 *       6 retention s  7 domain  8 default max attempts  9 reason  10 retry base ms  11 retry cap ms
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
local Q = { task_prefix = ARGV[3], result_prefix = ARGV[4], active = KEYS[2], leases = KEYS[1], delayed = KEYS[3],
  events = KEYS[4], domain = ARGV[7], now_iso = ARGV[5], retention = tonumber(ARGV[6]),
  default_max = tonumber(ARGV[8]), base = tonumber(ARGV[10]), cap = tonumber(ARGV[11]) }
local requeued, failed = 0, 0
for _, id in ipairs(ids) do
  local r = retry_or_fail(id, ARGV[9], Q)
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
