-- cancel: ends a task that has not ended yet as `failed` with the given error, wherever it is: waiting
-- (a consumer drops it when it comes up), delayed for a retry, or running (the lease and its record go,
-- so the runner's own finish is refused, and `dan:cancel` tells the runner to abort its worker). Its
-- domain is learnt here, from the task's record, so that domain's keys come from the key table.
--
-- KEYS (K.<name>): result (results:{id}), events (dan:events), logStream (dan:logs), cancelChannel (dan:cancel)
-- ARGV (A.<name>): taskId, error, logLine (with time), nowIso, retentionS, keyPrefix, by (who asked)
-- A task waiting on others also loses its wait record and its place in its dependencies' sets of dependents.
-- Returns: {'cancelled', owner} | {'ended', status} | {'not_found'}.
LOG.stream = K.logStream
local id = A.taskId
local status = redis.call('HGET', K.result, 'status')
if not status then return { 'not_found' } end
if status == 'completed' or status == 'failed' then return { 'ended', status } end
local tkey = KEY.task(id)
local f = redis.call('HMGET', tkey, 'raw', 'domain', 'owner', 'attempts')
if status == 'awaiting_approval' then
  -- Held by nobody while it waits (lib/redis/approvals.ts): it leaves the approvals, its task text kept as the result's input.
  local held = redis.call('HGET', KEY.approvalTasks(), id)
  local parked = held and cjson.decode(held) or {}
  local where = parked.domain or redis.call('HGET', K.result, 'domain') or '?'
  redis.call('ZREM', KEY.approvals(), id)
  redis.call('HDEL', KEY.approvalTasks(), id)
  task_log(id, A.by, where, A.logLine)
  finish_result(K.events, id, 'failed', cjson.encode({ error = A.error, cancelled_by = A.by, failure = failure('cancelled') }),
    A.error, A.nowIso, tonumber(A.retentionS), where, tonumber(redis.call('HGET', K.result, 'attempts')) or 0, parked.raw)
  return { 'cancelled', '' }
end
if status == 'waiting' then
  -- Waiting on other tasks (lua/submit-after-1.lua): its wait record and its place among each dependency's
  -- dependents go now, so nothing of it is left for the dependencies' ends to find.
  local w = redis.call('HMGET', KEY.waitRecord(id), 'raw', 'domain')
  end_wait(id, w[2])
  for d in string.gmatch(redis.call('HGET', K.result, 'depends_on') or '', '[^,]+') do
    redis.call('SREM', KEY.dependents(d), id)
  end
  local where = w[2] or redis.call('HGET', K.result, 'domain') or '?'
  task_log(id, A.by, where, A.logLine)
  finish_result(K.events, id, 'failed', cjson.encode({ error = A.error, cancelled_by = A.by, failure = failure('cancelled') }),
    A.error, A.nowIso, tonumber(A.retentionS), where, 0, w[1])
  return { 'cancelled', '' }
end
local domain = f[2] or redis.call('HGET', K.result, 'domain') or '?'
local owner = f[3] or ''
if f[1] then
  redis.call('ZREM', KEY.leases(domain), id)
  redis.call('ZREM', KEY.delayed(domain), id)
  redis.call('LREM', KEY.active(domain), 1, f[1])
  redis.call('DEL', tkey)
end
task_log(id, A.by, domain, A.logLine)
finish_result(K.events, id, 'failed', cjson.encode({ error = A.error, cancelled_by = A.by, failure = failure('cancelled') }),
  A.error, A.nowIso, tonumber(A.retentionS), domain, tonumber(f[4]) or 0, f[1])
redis.call('PUBLISH', K.cancelChannel, id)
return { 'cancelled', owner }
