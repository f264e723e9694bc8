-- retry_dead_letter: moves one dead-lettered input back onto a pending queue and removes its entry, in
-- one step. The entry is matched by its exact bytes, so of two people retrying the same entry at once
-- exactly one moves it and the other is told it is gone: no input is lost and none is queued twice.
--
-- KEYS (K.<name>): dead (tasks:dead:{from}), pending (tasks:pending:{to}), logStream (dan:logs)
-- ARGV (A.<name>): entry (exactly as in the list), taskId ('' when the input has none), domain (target),
--   notifications (channel of the target), logLine (for the task, '' for none), by (the log's agent
--   field), keyPrefix
-- Returns: 1 moved; 0 the entry is no longer in the list; -1 its input is not a JSON object or its task
-- id breaks the id rule (nothing changes: a consumer would only dead-letter it again).
--
-- The raw input is taken from the entry here, not from the caller: an envelope's `raw`, or the whole
-- item when a client wrote something that is not an envelope. cjson keeps the bytes as they were.
local entry = A.entry
local raw = entry
local ok, envelope = pcall(cjson.decode, entry)
if ok and type(envelope) == 'table' and type(envelope.raw) == 'string' then raw = envelope.raw end
local runnable = false
if string.find(raw, '^%s*{') then
  local parsed, task = pcall(cjson.decode, raw)
  runnable = parsed and type(task) == 'table'
    and not (type(task.task_id) == 'string' and task.task_id ~= '' and not valid_task_id(task.task_id))
end
if not runnable then return -1 end
if redis.call('LREM', K.dead, 1, entry) == 0 then return 0 end
redis.call('LPUSH', K.pending, raw)
local id = A.taskId
-- Dead-lettered because another task holds its id: that task's result is not this one's to reset. It
-- goes back as pushed; a consumer refuses it again while the id is held, and runs it once it is free.
if ok and type(envelope) == 'table' and envelope.id_in_use == true then id = '' end
if id ~= '' then
  local rkey, lkey = KEY.result(id), KEY.logs(id)
  -- The failure the dead-lettering wrote no longer holds; the task is waiting again, kept until it ends.
  redis.call('HDEL', rkey, 'output', 'error', 'completed_at', 'started_at')
  redis.call('HSET', rkey, 'task_id', id, 'status', 'pending', 'domain', A.domain)
  redis.call('PERSIST', rkey)
  redis.call('PERSIST', lkey)
  if A.logLine ~= '' then
    redis.call('RPUSH', lkey, A.logLine)
    redis.call('XADD', K.logStream, 'MAXLEN', '~', 20000, '*', 'task', id, 'agent', A.by, 'domain', A.domain, 'line', A.logLine)
  end
end
redis.call('PUBLISH', A.notifications, raw)
return 1
