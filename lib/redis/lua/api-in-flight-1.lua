-- api-in-flight: holds a place for a job among an API key's open jobs, or says there is none.
--
-- KEYS (K.<name>): open (dan:api:open:{key id}: ZSET task id -> ms it was sent)
-- ARGV (A.<name>): max, taskId, nowMs, graceMs, keyPrefix
-- Open jobs are pruned first: one whose result says completed or failed has ended; one with no result
-- hash sent more than graceMs ago has expired (or was never queued). A job of this key already open
-- (an Idempotency-Key replay) takes no second place.
-- Returns: {allowed (1 or 0), open jobs after the call}.
local now, grace = tonumber(A.nowMs), tonumber(A.graceMs)
local open = redis.call('ZRANGE', K.open, 0, -1, 'WITHSCORES')
for i = 1, #open, 2 do
  local id, sent = open[i], tonumber(open[i + 1])
  local status = redis.call('HGET', KEY.result(id), 'status')
  if status == 'completed' or status == 'failed' or (not status and now - sent > grace) then
    redis.call('ZREM', K.open, id)
  end
end
if redis.call('ZSCORE', K.open, A.taskId) then return { 1, redis.call('ZCARD', K.open) } end
local count = redis.call('ZCARD', K.open)
if count >= tonumber(A.max) then return { 0, count } end
redis.call('ZADD', K.open, now, A.taskId)
return { 1, count + 1 }
