-- approval-decide: a person's decision on a task awaiting approval. Approved: it is queued again at the
-- head of its priority in its domain (it waited its turn once), marked `approval approved` so its next
-- claim runs it. Rejected: it ends `failed` with failure code `rejected` and the reason as its error.
-- Either way it leaves dan:approvals. A task not awaiting approval is left as it is.
--
-- KEYS (K.<name>): result (results:{id}), approvals (dan:approvals), approvalTasks (dan:approvals:tasks),
--   events (dan:events), logStream (dan:logs)
-- ARGV (A.<name>): taskId, decision (approve|reject), by (who decided), reason (one line, '' for none),
--   nowIso, retentionS, logLine, keyPrefix
-- Returns: {'approved'} | {'rejected'} | {'not_waiting', status} | {'not_found'}.
LOG.stream = K.logStream
local id = A.taskId
local status = redis.call('HGET', K.result, 'status')
if not status then return { 'not_found' } end
local held = redis.call('HGET', K.approvalTasks, id)
if status ~= 'awaiting_approval' or not held then return { 'not_waiting', status } end
local parked = cjson.decode(held)
local domain = parked.domain
redis.call('ZREM', K.approvals, id)
redis.call('HDEL', K.approvalTasks, id)
task_log(id, A.by, domain, A.logLine)
if A.decision == 'approve' then
  redis.call('HSET', K.result, 'status', 'pending', 'approval', 'approved', 'approved_by', A.by, 'approved_at', A.nowIso)
  local priority = (parked.priority == 'high' or parked.priority == 'low') and parked.priority or 'normal'
  redis.call('LPUSH', KEY.ready(domain, priority), parked.raw)
  -- A consumer blocked on its pending queue wakes at its next poll; this tells listeners it has work.
  redis.call('PUBLISH', KEY.notifications(domain), parked.raw)
  redis.call('XADD', K.events, 'MAXLEN', '~', 10000, '*', 'type', 'task.approved', 'task_id', id, 'status', 'pending',
    'domain', domain, 'by', A.by, 'at', A.nowIso)
  return { 'approved' }
end
redis.call('HSET', K.result, 'approval', 'rejected', 'rejected_by', A.by)
local err = A.reason ~= '' and ('rejected by ' .. A.by .. ': ' .. A.reason) or ('rejected by ' .. A.by)
local attempts = tonumber(redis.call('HGET', K.result, 'attempts')) or 0
finish_result(K.events, id, 'failed', cjson.encode({ error = err, rejected_by = A.by, reason = A.reason, failure = failure('rejected') }),
  err, A.nowIso, tonumber(A.retentionS), domain, attempts, parked.raw)
return { 'rejected' }
