-- approval-expire: ends the tasks whose approval window passed (by Redis' clock) as `failed` with failure
-- code `approval_timeout`. A task that left `awaiting_approval` another way (cancelled) only leaves the set.
--
-- KEYS (K.<name>): approvals (dan:approvals), approvalTasks (dan:approvals:tasks), events (dan:events),
--   logStream (dan:logs)
-- ARGV (A.<name>): nowIso, retentionS, max (most tasks ended per call), by (who noticed), keyPrefix
-- Returns: the ids of the tasks it failed.
LOG.stream = K.logStream
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', K.approvals, '-inf', now, 'LIMIT', 0, tonumber(A.max))
local ended = {}
for _, id in ipairs(due) do
  redis.call('ZREM', K.approvals, id)
  local held = redis.call('HGET', K.approvalTasks, id)
  redis.call('HDEL', K.approvalTasks, id)
  local rkey = KEY.result(id)
  local r = redis.call('HMGET', rkey, 'status', 'attempts', 'approval_until', 'domain')
  if r[1] == 'awaiting_approval' then
    local parked = held and cjson.decode(held) or {}
    local domain = parked.domain or r[4] or '?'
    local err = 'approval_timeout: nobody approved or rejected it before its approval window ended at ' .. (r[3] or '?') ..
      '; send it again, and decide with dan approve or dan reject in time (or give a longer metadata.approval_timeout_seconds)'
    task_log(id, A.by, domain, '[' .. A.nowIso .. '] ' .. A.by .. ': ' .. err)
    finish_result(K.events, id, 'failed', cjson.encode({ error = err, failure = failure('approval_timeout') }), err, A.nowIso,
      tonumber(A.retentionS), domain, tonumber(r[2]) or 0, parked.raw)
    table.insert(ended, id)
  end
end
return ended
