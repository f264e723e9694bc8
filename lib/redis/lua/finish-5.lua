-- finish: ends a leased task, only if the caller still holds its lease (the token matches), so an
-- agent whose lease lapsed cannot overwrite the result of the attempt that replaced it. A failure of a
-- task that had earlier attempts carries their history in `output.attempt_history`. A holder whose attempt
-- record was deleted under it (the lease still its own) gets it rebuilt first (reclaim_own_record).
--
-- KEYS (K.<name>): task (dan:task:{id}), active (tasks:active:{d}), leases (dan:leases:{d}),
--   events (dan:events), logStream (dan:logs)
-- ARGV (A.<name>): taskId, token, status (completed|failed), output (JSON text), error (one line),
--   nowIso, retentionS, domain, logLine (last log line, '' for none), agentId, keyPrefix, costCheck ('':
--   the output is final; 'own': end it only if the task has no model-call cost or budget; 'all': nor
--   sub-tasks. The caller that finds 2 reads the cost into the output and calls again with '': one EXISTS
--   here spares every task without cost a round trip of its own before it ends), then any number of log
--   lines the agent held for the task's end (lib/runtime/task-log.ts), written before logLine
-- Returns: 1 finished, 0 lease lost (nothing written), 2 the task has cost to add (nothing written).
LOG.stream = K.logStream
local f = redis.call('HMGET', K.task, 'raw', 'token', 'attempts', 'history', 'started_at')
if not f[2] and reclaim_own_record(K.leases, K.active, A.taskId, A.domain, A.token) then
  f = redis.call('HMGET', K.task, 'raw', 'token', 'attempts', 'history', 'started_at')
end
if not f[2] or f[2] ~= A.token then return 0 end
if A.costCheck ~= '' then
  local found = A.costCheck == 'all'
    and redis.call('EXISTS', KEY.costTask(A.taskId), KEY.budgetTask(A.taskId), KEY.children(A.taskId))
    or redis.call('EXISTS', KEY.costTask(A.taskId), KEY.budgetTask(A.taskId))
  if found > 0 then return 2 end
end
redis.call('LREM', K.active, 1, f[1])
redis.call('ZREM', K.leases, A.taskId)
local output = A.output
if A.status == 'failed' and f[4] then
  output = with_history(output, add_history(K.task, f[4], tonumber(f[3]) or 1, A.agentId, f[5] or '', A.nowIso, A.error))
end
redis.call('DEL', K.task)
for i = REST, #ARGV do task_log(A.taskId, A.agentId, A.domain, ARGV[i]) end
if A.logLine ~= '' then task_log(A.taskId, A.agentId, A.domain, A.logLine) end
finish_result(K.events, A.taskId, A.status, output, A.error, A.nowIso, tonumber(A.retentionS), A.domain,
  tonumber(f[3]) or 1, f[1])
return 1
