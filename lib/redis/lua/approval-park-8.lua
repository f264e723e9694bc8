-- approval-park: a task that needs a person's approval leaves its agent before any work starts: its lease,
-- its place in tasks:active and its attempt record go (nothing is held while it waits), its result says
-- `awaiting_approval` with the plan a person decides on, and it waits in dan:approvals until its window
-- ends. The attempt its claim counted is given back, as no work was done. Only the lease holder may park.
--
-- KEYS (K.<name>): task (dan:task:{id}), active (tasks:active:{d}), leases (dan:leases:{d}),
--   result (results:{id}), approvals (dan:approvals), approvalTasks (dan:approvals:tasks),
--   events (dan:events), logStream (dan:logs)
-- ARGV (A.<name>): taskId, token, windowMs (from now, by Redis' clock), plan (JSON text), nowIso, domain,
--   priority, agentId, logLine, keyPrefix
-- Returns: {1, until_ms} parked, {0} lease lost (nothing written).
LOG.stream = K.logStream
local f = redis.call('HMGET', K.task, 'raw', 'token', 'attempts')
if not f[2] and reclaim_own_record(K.leases, K.active, A.taskId, A.domain, A.token) then
  f = redis.call('HMGET', K.task, 'raw', 'token', 'attempts')
end
if not f[2] or f[2] ~= A.token then return { 0 } end
redis.call('LREM', K.active, 1, f[1])
redis.call('ZREM', K.leases, A.taskId)
redis.call('DEL', K.task)
local until_ms = now_ms() + tonumber(A.windowMs)
local attempts = math.max(0, (tonumber(f[3]) or 1) - 1)
redis.call('HSET', K.result, 'task_id', A.taskId, 'status', 'awaiting_approval', 'attempts', attempts,
  'approval_plan', A.plan, 'approval_until', iso_from_ms(until_ms), 'approval_since', A.nowIso)
redis.call('HDEL', K.result, 'agent_id')
redis.call('ZADD', K.approvals, until_ms, A.taskId)
redis.call('HSET', K.approvalTasks, A.taskId, cjson.encode({ raw = f[1], domain = A.domain, priority = A.priority }))
task_log(A.taskId, A.agentId, A.domain, A.logLine)
redis.call('XADD', K.events, 'MAXLEN', '~', 10000, '*', 'type', 'task.awaiting_approval', 'task_id', A.taskId,
  'status', 'awaiting_approval', 'domain', A.domain, 'at', A.nowIso, 'until', iso_from_ms(until_ms), unpack(task_facts(f[1])))
return { 1, until_ms }
