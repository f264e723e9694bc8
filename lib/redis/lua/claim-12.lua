-- claim: takes up to `count` tasks for one consumer, highest priority first.
--
-- KEYS (K.<name>): pending (tasks:pending:{d}), ingest (dan:ingest:{d}), readyHigh, readyNormal, readyLow
--   (dan:ready:{d}:<priority>), active (tasks:active:{d}), leases (dan:leases:{d}), dead (tasks:dead:{d}),
--   events (dan:events), logStream (dan:logs), idCounter (dan:seq), delayed (dan:delayed:{d})
-- ARGV (A.<name>, declared in queue-scripts.ts): count, agentId, leaseMs, keyPrefix, domain, drainMax (most
--   raw items sorted per call), defaultMaxAttempts, nowIso (for display), retentionS, tokenPrefix (of lease
--   tokens), graceMs (for a raw client's result HSET), retryBaseMs, retryMaxMs, maxDepth (most tasks waiting
--   in the domain, 0: no limit), housekeeping ('1': look for lapsed leases and due retries; a consumer asks
--   a few times a second, not on every call), ingestMayHold ('1': a blocked wait moved a task there),
--   maxTaskBytes (DAN_MAX_TASK_BYTES: larger raw text is dead-lettered unread, 0: no limit), knownClients
--   (DAN_CLIENTS and `default`, lower case, as ',default,acme,'; '' when any client is served)
-- Returns: {claimed, deferred, next_due}: claimed is a list of {task id, raw, attempt, lease token,
-- priority}; deferred counts tasks (and refused input) held back for a raw client's result HSET (see
-- first_seen_within_grace); next_due is how many ms until the next delayed retry is due (-1: none, or not
-- looked at).
--
-- Steps: (1) end up to 16 lapsed leases (retried with backoff, or failed when out of attempts);
-- (2) move due retries from the delayed set to the ready lists; (3) move raw input from the ingest list
-- and the pending queue into per-priority ready lists, dead-lettering what is not a JSON object, has a
-- task id that is not a string or breaks the id rule, names a client knownClients does not list, is over the size limit, or does not
-- fit under the depth limit, and giving an id to what has
-- none (spliced into the text, so the same id survives a retry); (4) pop from the ready lists high,
-- normal, low. A task whose id another task holds (its result ended, runs, or waits for a retry) is
-- dead-lettered with the reason "task id already used", that task's result untouched (an ended one waits up to
-- the grace first: if a raw client's HSET of status pending lands meanwhile, that result says failed with the
-- reason, so the client is told rather than left waiting, and the task does not run twice); one cancelled while
-- it waited is dropped; one whose `results` hash a raw client has not written yet waits up to the grace, so the
-- client's `status pending` cannot land on top of ours. Each claimed task gets its `results` hash set to
-- in_progress, its raw text pushed to tasks:active, and a lease; on its first claim, an entry in its client's
-- task index (dan:jobs:{client}) unless it has one.
local count = tonumber(A.count)
local agent = A.agentId
local lease_ms = tonumber(A.leaseMs)
local domain = A.domain
local drain_max = tonumber(A.drainMax)
local default_max = tonumber(A.defaultMaxAttempts)
local now_iso, retention_s, token_base = A.nowIso, tonumber(A.retentionS), A.tokenPrefix
local grace_ms = tonumber(A.graceMs)
local max_depth = tonumber(A.maxDepth)
local max_task_bytes = tonumber(A.maxTaskBytes)
local known_clients = A.knownClients
-- 4 KB of an oversized task is kept in its dead letter: enough to see what it was and whose.
local KEPT_OF_OVERSIZED = 4096
-- Strict JSON: Redis' decoder otherwise takes NaN, Infinity and hex numbers, which JSON.parse (and so
-- every consumer) refuses; such text must be dead-lettered here, not claimed and failed later.
cjson.decode_invalid_numbers(false)
local now = now_ms()
LOG.stream = K.logStream
local Q = { active = K.active, leases = K.leases, delayed = K.delayed, events = K.events, domain = domain,
  now_iso = now_iso, retention = retention_s, default_max = default_max, base = tonumber(A.retryBaseMs),
  cap = tonumber(A.retryMaxMs), now = now }

local housekeeping = A.housekeeping == '1'
local lapsed = housekeeping and redis.call('ZRANGEBYSCORE', K.leases, '-inf', now, 'LIMIT', 0, 16) or {}
for _, id in ipairs(lapsed) do
  local owner = redis.call('HGET', KEY.task(id), 'owner') or '?'
  retry_or_fail(id, 'lease expired (' .. owner .. ' stopped renewing it)', Q)
end

local ready_key = { high = K.readyHigh, normal = K.readyNormal, low = K.readyLow }
local next_due = -1
local delayed = housekeeping and redis.call('ZRANGE', K.delayed, 0, 63, 'WITHSCORES') or {}
local due_now = { high = {}, normal = {}, low = {} }
for i = 1, #delayed, 2 do
  local id, due = delayed[i], tonumber(delayed[i + 1])
  if due > now then
    next_due = due - now
    break
  end
  redis.call('ZREM', K.delayed, id)
  local f = redis.call('HMGET', KEY.task(id), 'raw', 'priority')
  if f[1] then table.insert(due_now[ready_key[f[2]] and f[2] or 'normal'], f[1]) end
end
-- A retried task has waited its turn once already: it goes to the head of its priority, earliest due
-- first (LPUSH puts its last argument at the head).
for priority, list in pairs(due_now) do
  if #list > 0 then
    local reversed = {}
    for i = #list, 1, -1 do table.insert(reversed, list[i]) end
    redis.call('LPUSH', ready_key[priority], unpack(reversed))
  end
end

local buckets = { high = {}, normal = {}, low = {} }
-- What sort_in decoded, by raw text, so a task drained and handed out in the same call is decoded once.
local decoded = {}
local room = -1
-- Whether task `id` was first seen less than the grace ago (its client may still write its result).
local function first_seen_within_grace(id)
  local seen_key = KEY.seen(id)
  redis.call('SET', seen_key, now, 'NX', 'PX', 60000)
  return now - tonumber(redis.call('GET', seen_key)) < grace_ms
end
-- Input refused below whose client may be about to write `results:<id>` (protocol.md: LPUSH, then HSET
-- status pending) waits for that write as a valid task does, up to the grace: the failed result written
-- with its dead letter must not be turned back to `pending` by the client's late HSET. Held input goes
-- back to the ingest list and counts as deferred, so the consumer asks again shortly.
local held = {}
local function held_for_client(raw, id)
  if not id or redis.call('EXISTS', KEY.result(id)) == 1 or not first_seen_within_grace(id) then return false end
  table.insert(held, raw)
  return true
end
local function sort_in(raw)
  if max_task_bytes > 0 and #raw > max_task_bytes then
    if held_for_client(raw, recover_id(string.sub(raw, 1, KEPT_OF_OVERSIZED))) then return end
    -- Refused before decoding: its size alone makes it too costly to log, route and hand to a model.
    dead_letter(K.dead, K.events, string.sub(raw, 1, KEPT_OF_OVERSIZED), 'task is ' .. #raw .. ' bytes, over the ' ..
      max_task_bytes .. '-byte limit (DAN_MAX_TASK_BYTES); its first ' .. KEPT_OF_OVERSIZED ..
      ' bytes are kept here; send less, or raise DAN_MAX_TASK_BYTES', 'invalid_task', domain, now_iso, retention_s)
    return
  end
  if not string.find(raw, '^%s*{') then
    if held_for_client(raw, recover_id(raw)) then return end
    dead_letter(K.dead, K.events, raw, 'task JSON must be an object', 'invalid_task', domain, now_iso, retention_s)
    return
  end
  local ok, obj = pcall(cjson.decode, raw)
  if not ok or type(obj) ~= 'table' then
    if held_for_client(raw, recover_id(raw)) then return end
    dead_letter(K.dead, K.events, raw, 'not JSON: ' .. tostring(obj), 'invalid_task', domain, now_iso, retention_s)
    return
  end
  local id_type = type(obj.task_id)
  if id_type == 'number' or id_type == 'boolean' or id_type == 'table' then
    -- Given a new id, it would run where its client never looks: refused, naming the rule. A whole number's
    -- client most likely waits on results:<its decimal text> (what JavaScript, Python and redis-cli build
    -- from it), so that result says why; 1e15 and up print differently in each, so they name no key.
    local n = obj.task_id
    local named = id_type == 'number' and n >= 0 and n < 1e15 and n == math.floor(n) and string.format('%d', n) or nil
    if held_for_client(raw, named) then return end
    dead_letter(K.dead, K.events, raw, 'task_id must be a string, got ' .. (id_type == 'table' and 'an object' or 'a ' .. id_type) ..
      ': ' .. TASK_ID_RULE_TEXT .. '; send it again with the id in quotes', 'invalid_task', domain, now_iso, retention_s, named)
    return
  end
  if type(obj.task_id) == 'string' and obj.task_id ~= '' and not valid_task_id(obj.task_id) then
    -- Its id would build key names that collide with or bloat others: refused before any key is made.
    local shown = #obj.task_id > 60 and string.sub(obj.task_id, 1, 60) .. '... (' .. #obj.task_id .. ' characters)' or obj.task_id
    dead_letter(K.dead, K.events, raw, 'invalid task id ' .. cjson.encode(shown) .. ': ' .. TASK_ID_RULE_TEXT, 'invalid_task',
      domain, now_iso, retention_s)
    return
  end
  if known_clients ~= '' then
    -- The client's name as normalizeClientId makes it; absent or empty is `default`.
    local md = obj.metadata
    local client = type(md) == 'table' and md.client_id or nil
    if client == nil or client == cjson.null or client == '' then client = 'default' end
    local name = type(client) == 'string' and string.lower(client) or nil
    if not name or not string.find(known_clients, ',' .. name .. ',', 1, true) then
      if held_for_client(raw, recover_id(raw)) then return end
      local shown = type(client) == 'string' and cjson.encode(#client > 64 and string.sub(client, 1, 64) .. '...' or client) or 'a ' .. type(client)
      dead_letter(K.dead, K.events, raw, 'unknown client ' .. shown .. ' in metadata.client_id: this network serves ' ..
        string.sub(known_clients, 2, -2) .. ' (DAN_CLIENTS); add the client there, or send it for one of those',
        'unknown_client', domain, now_iso, retention_s)
      return
    end
  end
  if room == 0 then
    if held_for_client(raw, recover_id(raw)) then return end
    dead_letter(K.dead, K.events, raw, 'queue full: ' .. max_depth .. ' tasks already wait in ' .. domain ..
      ' (DAN_MAX_QUEUE_DEPTH); send it again once the queue drains', 'queue_full', domain, now_iso, retention_s)
    return
  end
  if room > 0 then room = room - 1 end
  if type(obj.task_id) ~= 'string' or obj.task_id == '' then
    local h = redis.sha1hex(raw .. now .. redis.call('INCR', K.idCounter))
    local id = string.sub(h, 1, 8) .. '-' .. string.sub(h, 9, 12) .. '-4' .. string.sub(h, 14, 16) .. '-a' ..
      string.sub(h, 18, 20) .. '-' .. string.sub(h, 21, 32)
    -- JSON.parse keeps the last of duplicate keys, so appending wins over a null or numeric task_id.
    if string.find(raw, '^%s*{%s*}%s*$') then
      raw = '{"task_id":"' .. id .. '"}'
    else
      raw = string.gsub(raw, '}%s*$', ',"task_id":"' .. id .. '"}')
    end
    -- No client can write a result for an id it does not know: record it now.
    redis.call('HSET', KEY.result(id), 'task_id', id, 'status', 'pending')
    obj.task_id = id
  end
  local priority = 'normal'
  local md = obj.metadata
  if type(md) == 'table' and (md.priority == 'high' or md.priority == 'low') then priority = md.priority end
  table.insert(buckets[priority], raw)
  decoded[raw] = obj
end

local drained = 0
local sources = { K.pending }
if A.ingestMayHold == '1' or housekeeping then sources = { K.ingest, K.pending } end
-- Whether any ready list holds tasks an earlier claim left (an empty list does not exist): asked once
-- per claim. With none, what was just drained is all that is ready, so it is handed out
-- from here (`take`) rather than pushed to the lists and popped back, and only what is left over is
-- pushed; the common case then costs one EXISTS instead of an RPUSH and three LPOPs.
local ready_before
for _, source in ipairs(sources) do
  if drained < drain_max then
    local items = redis.call('RPOP', source, drain_max - drained)
    if items then
      if ready_before == nil then
        ready_before = redis.call('EXISTS', K.readyHigh, K.readyNormal, K.readyLow) > 0
      end
      if room < 0 and max_depth > 0 then
        local waiting = redis.call('ZCARD', K.delayed)
        if ready_before then
          waiting = waiting + redis.call('LLEN', K.readyHigh) + redis.call('LLEN', K.readyNormal) + redis.call('LLEN', K.readyLow)
        end
        room = math.max(0, max_depth - waiting)
      end
      for _, raw in ipairs(items) do sort_in(raw) end
      drained = drained + #items
    end
  end
end
-- Nothing drained: one EXISTS still spares the three LPOPs of a claim that finds nothing.
if ready_before == nil then ready_before = redis.call('EXISTS', K.readyHigh, K.readyNormal, K.readyLow) > 0 end
local direct = not ready_before
if not direct then
  for priority, list in pairs(buckets) do
    if #list > 0 then redis.call('RPUSH', ready_key[priority], unpack(list)) end
  end
end
-- Up to `want` ready tasks of `priority`, oldest first: from the list, or, when the lists were empty
-- (`direct`), from what was drained, the rest of which is pushed to the list in its order.
local function take(priority, want)
  if not direct then return redis.call('LPOP', ready_key[priority], want) end
  local list = buckets[priority]
  buckets[priority] = {}
  if #list == 0 then return nil end
  if #list > want then
    redis.call('RPUSH', ready_key[priority], unpack(list, want + 1))
    local first = {}
    for i = 1, want do first[i] = list[i] end
    return first
  end
  return list
end
-- Back where the next claim pops first, in the order they came.
for i = #held, 1, -1 do redis.call('RPUSH', K.ingest, held[i]) end

-- Why a popped task's id belongs to another task, or nil when the task may run. An ended result that
-- was not cancelled, a running one, or one waiting for its retry (the genuine copy is still in the delayed
-- set) means a second task reuses the id; running it would overwrite the first's result or run it twice.
-- A `pending` result with no attempts is a raw client's own HSET around its push, not a reuse.
local function id_in_use(id, status, attempts)
  if status == 'in_progress' then return 'running' end
  if status == 'awaiting_approval' then return 'awaiting approval' end
  if status == 'pending' and attempts > 0 and redis.call('ZSCORE', K.delayed, id) then return 'waiting for a retry' end
  if status == 'completed' then return 'completed' end
  if status == 'failed' then
    local output = redis.call('HGET', KEY.result(id), 'output') or ''
    if not string.find(output, '"code":"cancelled"', 1, true) then return 'failed' end
  end
  return nil
end

-- Dead-letters a task whose id another task holds: the entry says so (`id_in_use`), and retrying it is
-- refused for the same reason. That task's result stays as it is, unless `client_wrote` (its raw client's
-- HSET of status pending already replaced it): then it says failed with the reason, as dead_letter writes
-- it, so the client waiting on it learns why instead of seeing `pending` for good.
local function refuse_reused_id(raw, id, status, client_wrote)
  local reason = 'task id already used (status ' .. status .. '): send it again with another id'
  local entry_id = string.sub(redis.sha1hex(raw .. reason .. now_iso .. tostring(now) .. redis.call('LLEN', K.dead)), 1, 16)
  redis.call('LPUSH', K.dead, cjson.encode({ id = entry_id, reason = reason, raw = raw, domain = domain,
    dead_lettered_at = now_iso, task_id = id, id_in_use = true }))
  redis.call('DEL', KEY.heldReuse(id))
  if client_wrote then
    local err = 'dead-lettered: ' .. reason
    finish_result(K.events, id, 'failed', cjson.encode({ error = err, dead_letter_id = entry_id, failure = failure('invalid_task') }),
      err, now_iso, retention_s, domain, 0)
  else
    redis.call('XADD', K.events, 'MAXLEN', '~', 10000, '*', 'type', 'task.dead_lettered', 'task_id', id, 'domain', domain,
      'reason', reason, 'at', now_iso)
  end
  task_log(id, agent, domain, '[' .. now_iso .. '] ' .. agent .. ': refused another task with this id: ' .. reason)
end

local out, active, leases = {}, {}, {}
local deferred = 0
for _, priority in ipairs({ 'high', 'normal', 'low' }) do
  local want = count - #out
  if want <= 0 then break end
  local items = take(priority, want)
  if items then
    local wait = {}
    for _, raw in ipairs(items) do
      local obj = decoded[raw] or cjson.decode(raw)
      local id = obj.task_id
      local rkey = KEY.result(id)
      local r = redis.call('HMGET', rkey, 'status', 'attempts', 'client_id', 'completed_at', 'description')
      local status = r[1]
      local used = id_in_use(id, status, tonumber(r[2]) or 0)
      -- A raw client reusing an ended id LPUSHes, then HSETs status pending: refused before that HSET
      -- lands, its result would be left `pending` for good. So it waits up to the grace too, the ended
      -- status noted (same lifetime as the seen key): if the client's HSET came, it is refused all the
      -- same, with its result failed; if not, refused with the ended result left alone.
      local client_may_write = (used == 'completed' or used == 'failed') and first_seen_within_grace(id)
      -- Only a result that ended before (completed_at is left by a client's HSET) can have been held so.
      local held_status = not used and status == 'pending' and r[4] and redis.call('GET', KEY.heldReuse(id))
      if client_may_write then
        redis.call('SET', KEY.heldReuse(id), used, 'NX', 'PX', 60000)
        table.insert(wait, raw)
      elseif held_status then
        refuse_reused_id(raw, id, held_status, true)
      elseif used then
        refuse_reused_id(raw, id, used, false)
      elseif status == 'completed' or status == 'failed' then
        -- Ended while it waited (cancelled): nothing to run. Its attempt record goes too.
        redis.call('DEL', KEY.task(id))
      else
        -- A raw client LPUSHes, then HSETs status pending. Taking the task before that HSET would let
        -- it overwrite our in_progress (or, for a fast task, our completed). Wait briefly for it.
        local hold = not status and first_seen_within_grace(id)
        if hold then
          table.insert(wait, raw)
        else
          local max_attempts = default_max
          if type(obj.metadata) == 'table' and type(obj.metadata.max_attempts) == 'number' then
            max_attempts = obj.metadata.max_attempts
          end
          local tkey = KEY.task(id)
          -- The result hash counts attempts across requeues (a fresh or dead-lettered task has none or 0).
          local attempt = (tonumber(r[2]) or 0) + 1
          local token = token_base .. ':' .. #out
          redis.call('HSET', tkey, 'raw', raw, 'domain', domain, 'owner', agent, 'token', token, 'attempts', attempt,
            'max_attempts', max_attempts, 'priority', priority, 'started_at', now_iso)
          redis.call('HSET', rkey, 'task_id', id, 'status', 'in_progress', 'started_at', now_iso,
            'domain', domain, 'agent_id', agent, 'attempts', attempt)
          table.insert(active, raw)
          table.insert(leases, now + lease_ms)
          table.insert(leases, id)
          table.insert(out, { id, raw, attempt, token, priority })
          local what = obj.type == 'echo' and 'echo task' or 'task'
          local text = type(obj.payload) == 'table' and type(obj.payload.description) == 'string' and obj.payload.description
          -- A task's first claim indexes it for its client's listings (dan:jobs:{client}; 'default', as
          -- lib/protocol/client-id.ts names it, for a task without one): a submitted task is there already
          -- (NX keeps its time), one a client pushed raw is seen here first.
          -- A submitted task has its description (and its index entry) already: nothing to look up.
          if attempt == 1 and not r[5] then
            local jobs = KEY.jobs(r[3] or 'default')
            if redis.call('ZADD', jobs, 'NX', now, id) == 1 then
              if retention_s > 0 then redis.call('ZREMRANGEBYSCORE', jobs, '-inf', '(' .. (now - 2 * retention_s * 1000)) end
              if text then redis.call('HSETNX', rkey, 'description', string.sub(text, 1, 1000)) end
            end
          end
          -- The first 500 bytes: a log line is read by people, and a long description is in the task itself.
          local description = text and string.gsub(#text > 500 and string.sub(text, 1, 500) .. '...' or text, '%s*[\r\n]+%s*', ' ')
            or '(no description)'
          task_log(id, agent, domain, '[' .. now_iso .. '] ' .. agent .. ': claimed ' .. what ..
            ' (attempt ' .. attempt .. ' of ' .. max_attempts .. ', priority ' .. priority .. '): ' .. description)
        end
      end
    end
    -- Back at the head, in their order.
    for i = #wait, 1, -1 do redis.call('LPUSH', ready_key[priority], wait[i]) end
    deferred = deferred + #wait
  end
end
-- What was drained of priorities not reached (all slots taken) waits in its list.
if direct then
  for priority, list in pairs(buckets) do
    if #list > 0 then redis.call('RPUSH', ready_key[priority], unpack(list)) end
  end
end
if #active > 0 then
  redis.call('LPUSH', K.active, unpack(active))
  redis.call('ZADD', K.leases, unpack(leases))
end
return { out, deferred + #held, next_due }
