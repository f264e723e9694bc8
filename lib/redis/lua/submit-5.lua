-- submit: queues a task the way protocol.md tells outside clients to, in one step: the result hash is
-- written before the push, so a fast consumer's `in_progress` is never overwritten by `pending`; a
-- sub-task is added to its parent's list of children (for cancellation); the task is announced. The
-- caller has checked the task id against the id rule (lib/protocol/task.ts). With maxDepth, a domain
-- whose queue holds that many tasks already refuses it (backpressure, DAN_MAX_QUEUE_DEPTH): checked here,
-- in the same step, so concurrent submits cannot all pass a depth read before any of them is queued, and
-- a submit costs one round trip rather than two (the depth read had been a fifth of `dan serve`'s time
-- per POST /jobs).
--
-- KEYS (K.<name>): result (results:{id}), pending (tasks:pending:{d}), notifications (notifications:{d}),
--   children (dan:children:{parent}, or any key when there is no parent), jobs (dan:jobs:{client}: the
--   client's task index, `default` for a task without a client)
-- ARGV (A.<name>): taskId, raw (task JSON), domain, parentId ('' for none), childrenTtlMs,
--   clientId (its metadata.client_id, '' for none: kept in the result so the HTTP API shows it to its client only),
--   description (the first 1000 characters of payload.description, kept in the result for listings and
--   their text search), nowMs (the index's score: when it was sent), trimBeforeMs (index entries sent
--   before this are dropped: their results have expired; '' skips the trim, which a busy sender does
--   only now and then), maxDepth (0: no limit), then the domain's other
--   waiting keys (Keys.waiting), only read by the depth check and so passed here, not in KEYS, which would
--   ask write access of the `client` user: ingest, readyHigh, readyNormal, readyLow (LISTs), delayed (ZSET);
--   then, for a sub-task sent with lines of its parent's log (lib/runtime/task-log.ts; '' each otherwise,
--   and arguments for the same reason): parentLogs (results:{parent}:logs), logStream (dan:logs), logAgent
--   and logDomain (the parent's agent and domain, for the stream); planKey (dan:plan:{parent}), plan (its
--   JSON, '' for none: stored unless a plan is stored already, so main's first attempt stores its plan
--   with its first sub-task) and planTtlMs; the lines, formatted, from ARGV[REST]
-- Returns: {1} queued; {0, status} nothing written, because `results:{id}` exists: the id belongs to a
--   task sent before (its status, 'unknown' when the hash has none), and a second one would overwrite it;
--   {2, depth} nothing written, because the domain's queue holds depth >= maxDepth tasks;
--   {3, plan} nothing written, because another plan of the parent is stored (that one stands).
-- One EXISTS on the path every fresh task takes; the status is read only for the refusal.
if redis.call('EXISTS', K.result) == 1 then return { 0, redis.call('HGET', K.result, 'status') or 'unknown' } end
local maxDepth = tonumber(A.maxDepth)
if maxDepth > 0 then
  local depth = redis.call('LLEN', K.pending) + redis.call('LLEN', A.ingest) + redis.call('LLEN', A.readyHigh)
    + redis.call('LLEN', A.readyNormal) + redis.call('LLEN', A.readyLow) + redis.call('ZCARD', A.delayed)
  if depth >= maxDepth then return { 2, depth } end
end
if A.plan ~= '' then
  local stood = redis.call('SET', A.planKey, A.plan, 'PX', A.planTtlMs, 'NX', 'GET')
  if stood and stood ~= A.plan then return { 3, stood } end
end
-- One HSET with every field the task has.
local fields = { 'task_id', A.taskId, 'status', 'pending', 'domain', A.domain }
if A.parentId ~= '' then
  table.insert(fields, 'parent_id'); table.insert(fields, A.parentId)
  redis.call('SADD', K.children, A.taskId)
  redis.call('PEXPIRE', K.children, A.childrenTtlMs)
end
if A.clientId ~= '' then table.insert(fields, 'client_id'); table.insert(fields, A.clientId) end
if A.description ~= '' then table.insert(fields, 'description'); table.insert(fields, A.description) end
redis.call('HSET', K.result, unpack(fields))
redis.call('ZADD', K.jobs, tonumber(A.nowMs), A.taskId)
if A.trimBeforeMs ~= '' then redis.call('ZREMRANGEBYSCORE', K.jobs, '-inf', '(' .. A.trimBeforeMs) end
redis.call('LPUSH', K.pending, A.raw)
redis.call('PUBLISH', K.notifications, A.raw)
if #ARGV >= REST then
  redis.call('RPUSH', A.parentLogs, unpack(ARGV, REST))
  for i = REST, #ARGV do
    redis.call('XADD', A.logStream, 'MAXLEN', '~', 20000, '*', 'task', A.parentId, 'agent', A.logAgent, 'domain', A.logDomain, 'line', ARGV[i])
  end
end
return { 1 }
