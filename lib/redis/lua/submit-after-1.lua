-- submit-after: queues tasks that wait on other tasks (lib/redis/task-dependencies.ts), in one step: one
-- task sent with `dan send --after`, or a whole workflow (its steps and the parent task that waits on
-- them all). Each task's dependencies are checked first, and nothing is written when one is refused:
-- every dependency outside the batch must have a result (`unknown`) of the same client (`other_client`),
-- and must not have failed unless the task runs anyway (`failed`). The caller has checked ids, self
-- dependencies and cycles within the batch. A task whose dependencies have all completed is queued at
-- once as submit-5.lua queues it; any other gets status `waiting`, a wait record (dan:wait:{id}) and an
-- entry in the set of dependents of each dependency not ended yet, which also gets `has_dependents` in
-- its result, so the script that ends it (common.lua's finish_result) releases the waiting tasks in the
-- same atomic step; a task (not a workflow) joins its domain's dan:waiting set, which the views count. Queue depth limits (DAN_MAX_QUEUE_DEPTH) are not applied to waiting tasks.
--
-- KEYS (K.<name>): jobs (dan:jobs:{client}: the client's task index)
-- ARGV (A.<name>): keyPrefix, clientId ('' for the default client), nowMs (the index's score), trimBeforeMs
--   (index entries sent before this are dropped), childrenTtlMs, nowIso, batch: JSON list of
--   {id, raw, domain, parent ('' for none), description, after (ids), run_if ('success'|'always'),
--   kind ('task'|'workflow'), steps (a workflow's number of steps, else 0)}; a task listed before the
--   tasks that name it in `after`.
-- Returns: {'ok', queued} (how many went to a pending queue at once); or, nothing written,
--   {'exists', id, status}: an id of the batch already has a result; {'unknown', id, dependency};
--   {'other_client', id, dependency}; {'failed', id, dependency}: that dependency failed already.
local batch = cjson.decode(A.batch)
local in_batch = {}
for _, t in ipairs(batch) do in_batch[t.id] = true end
for _, t in ipairs(batch) do
  if redis.call('EXISTS', KEY.result(t.id)) == 1 then return { 'exists', t.id, redis.call('HGET', KEY.result(t.id), 'status') or 'unknown' } end
end
local status_of = {}
for _, t in ipairs(batch) do
  for _, d in ipairs(t.after) do
    if not in_batch[d] then
      if status_of[d] == nil then
        local r = redis.call('HMGET', KEY.result(d), 'status', 'client_id')
        if not r[1] then return { 'unknown', t.id, d } end
        if (r[2] or '') ~= A.clientId then return { 'other_client', t.id, d } end
        status_of[d] = r[1]
      end
      if status_of[d] == 'failed' and t.run_if ~= 'always' and t.kind ~= 'workflow' then return { 'failed', t.id, d } end
    end
  end
end

local queued = 0
for _, t in ipairs(batch) do
  local rkey = KEY.result(t.id)
  local left, failed = 0, ''
  for _, d in ipairs(t.after) do
    local s = in_batch[d] and 'waiting' or status_of[d]
    if s == 'failed' then
      failed = failed .. ',' .. d
    elseif s ~= 'completed' then
      redis.call('SADD', KEY.dependents(d), t.id)
      redis.call('HSET', KEY.result(d), 'has_dependents', '1')
      left = left + 1
    end
  end
  redis.call('HSET', rkey, 'task_id', t.id, 'status', left > 0 and 'waiting' or 'pending', 'domain', t.domain,
    'depends_on', table.concat(t.after, ','))
  if t.run_if == 'always' then redis.call('HSET', rkey, 'run_if', 'always') end
  if t.parent ~= '' then
    redis.call('HSET', rkey, 'parent_id', t.parent)
    redis.call('SADD', KEY.children(t.parent), t.id)
    redis.call('PEXPIRE', KEY.children(t.parent), tonumber(A.childrenTtlMs))
  end
  if A.clientId ~= '' then redis.call('HSET', rkey, 'client_id', A.clientId) end
  if t.description ~= '' then redis.call('HSET', rkey, 'description', t.description) end
  redis.call('ZADD', K.jobs, tonumber(A.nowMs), t.id)
  if left > 0 then
    redis.call('HSET', KEY.waitRecord(t.id), 'raw', t.raw, 'domain', t.domain, 'run_if', t.run_if, 'kind', t.kind,
      'remaining', left, 'failed', failed, 'steps', t.steps)
    if t.kind == 'task' then redis.call('SADD', KEY.dependencyWaiters(t.domain), t.id) end
  else
    -- Every dependency had completed (a workflow always waits on its steps, so this is a task).
    redis.call('HSET', rkey, 'released_at', A.nowIso)
    redis.call('LPUSH', KEY.pending(t.domain), t.raw)
    redis.call('PUBLISH', KEY.notifications(t.domain), t.raw)
    queued = queued + 1
  end
end
redis.call('ZREMRANGEBYSCORE', K.jobs, '-inf', '(' .. A.trimBeforeMs)
return { 'ok', queued }
