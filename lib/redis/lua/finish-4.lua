-- finish: ends a batch of leased tasks of one domain (one, or all whose ends an agent had ready in the
-- same turn), each only if its caller still holds its lease (the token matches), so an agent whose lease
-- lapsed cannot overwrite the result of the attempt that replaced it. A failure of a task that had
-- earlier attempts carries their history in `output.attempt_history`. A holder whose attempt record was
-- deleted under it (the lease still its own) gets it rebuilt first (reclaim_own_record). Each task's
-- writes are its own (result, log, publish, events); what the batch shares is written once: the
-- /metrics and /history counters summed per field (HINCRBY by n), the leases in one ZREM and the attempt
-- records in one DEL.
--
-- KEYS (K.<name>): active (tasks:active:{d}), leases (dan:leases:{d}), events (dan:events), logStream (dan:logs)
-- ARGV (A.<name>): nowIso, retentionS, domain, agentId, keyPrefix, then per task (from ARGV[REST]):
--   taskId, token, status (completed|failed), output (JSON text), error (one line), logLine (last log
--   line, '' for none), costCheck ('': the output is final; 'own': end it only if the task has no
--   model-call cost or budget; 'all': nor sub-tasks. The caller that finds 2 reads the cost into the
--   output and calls again with '': one EXISTS here spares every task without cost a round trip of its
--   own before it ends), heldCount, then heldCount log lines the agent held for the task's end
--   (lib/runtime/task-log.ts), written before logLine
-- Returns: per task, in order: 1 finished, 0 lease lost (nothing written), 2 the task has cost to add
-- (nothing written), or the error its writes met (what was written before it stays, as in any script).
LOG.stream = K.logStream
local now_iso, retention_s, domain, agent = A.nowIso, tonumber(A.retentionS), A.domain, A.agentId
local ended_ids, records, answers, ended = {}, {}, {}, {}

local function finish_one(id, token, status, output, err, log_line, cost_check, held_from, held_to)
  -- The same task twice in one batch: the first call ended it (its record is deleted below, at the end).
  if ended[id] then return 0 end
  local tkey = KEY.task(id)
  local f = redis.call('HMGET', tkey, 'raw', 'token', 'attempts', 'history', 'started_at')
  if not f[2] and reclaim_own_record(K.leases, K.active, id, domain, token) then
    f = redis.call('HMGET', tkey, 'raw', 'token', 'attempts', 'history', 'started_at')
  end
  if not f[2] or f[2] ~= token then return 0 end
  if cost_check ~= '' then
    local found = cost_check == 'all'
      and redis.call('EXISTS', KEY.costTask(id), KEY.budgetTask(id), KEY.children(id))
      or redis.call('EXISTS', KEY.costTask(id), KEY.budgetTask(id))
    if found > 0 then return 2 end
  end
  ended[id] = true
  redis.call('LREM', K.active, 1, f[1])
  table.insert(ended_ids, id)
  table.insert(records, tkey)
  if status == 'failed' and f[4] then
    output = with_history(output, add_history(tkey, f[4], tonumber(f[3]) or 1, agent, f[5] or '', now_iso, err))
  end
  for i = held_from, held_to do task_log(id, agent, domain, ARGV[i]) end
  if log_line ~= '' then task_log(id, agent, domain, log_line) end
  finish_result(K.events, id, status, output, err, now_iso, retention_s, domain, tonumber(f[3]) or 1, f[1])
  return 1
end

begin_counts()
local i = REST
while i <= #ARGV do
  local held = tonumber(ARGV[i + 7])
  -- A task whose writes fail (a key of the wrong type, say) answers its own error; the others of the
  -- batch still end, and are counted.
  local ok, answer = pcall(finish_one, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6],
    i + 8, i + 7 + held)
  if not ok then answer = redis.error_reply(type(answer) == 'table' and answer.err or tostring(answer)) end
  table.insert(answers, answer)
  i = i + 8 + held
end
flush_counts()
if #ended_ids > 0 then
  redis.call('ZREM', K.leases, unpack(ended_ids))
  redis.call('DEL', unpack(records))
end
return answers
