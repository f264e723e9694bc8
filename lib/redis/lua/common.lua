-- Helpers shared by the queue scripts, prepended to each script's body after the generated preamble
-- (the arguments table `A`, the key table `KEY`, `valid_task_id`). Redis runs a script atomically, so
-- every multi-key state move (claim, finish, retry, cancel, dead-letter) is all-or-nothing.
--
-- Conventions: `now_ms()` is Redis' own clock (leases and retry times compare times written by
-- different hosts, so one clock decides); `now_iso` comes from the caller and is only displayed. Keys
-- the caller could not know in advance come from `KEY` (generated from lib/redis/keys.ts), never from
-- names spelled here.

-- Set by each script to its dan:logs key, so task log lines also reach the network-wide log stream.
local LOG = { stream = false }

-- One progress line, in the task's protocol log and in the log stream with its task, agent and domain.
local function task_log(id, agent, domain, line)
  redis.call('RPUSH', KEY.logs(id), line)
  if LOG.stream then
    redis.call('XADD', LOG.stream, 'MAXLEN', '~', 20000, '*', 'task', id, 'agent', agent, 'domain', domain, 'line', line)
  end
end

local CLOCK = { us = 0 }
local function now_ms()
  local t = redis.call('TIME')
  CLOCK.us = tonumber(t[2])
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- ISO-8601 UTC text of a time in ms since the epoch (days to civil date, proleptic Gregorian).
local function iso_from_ms(ms)
  local s = math.floor(ms / 1000)
  local days = math.floor(s / 86400)
  local rem = s - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d, math.floor(rem / 3600),
    math.floor((rem % 3600) / 60), rem % 60, ms % 1000)
end

-- What the task.finished event carries of the task itself (for ELF): client, parent, description, and
-- context.path and context.workspace, which name the repository its trails belong to (repositoryOf).
local function task_facts(raw)
  if not raw then return {} end
  local ok, task = pcall(cjson.decode, raw)
  if not ok or type(task) ~= 'table' then return {} end
  local facts = {}
  local meta = type(task.metadata) == 'table' and task.metadata or {}
  local payload = type(task.payload) == 'table' and task.payload or {}
  local context = type(payload.context) == 'table' and payload.context or {}
  if type(meta.client_id) == 'string' then table.insert(facts, 'client'); table.insert(facts, meta.client_id) end
  if type(meta.parent_id) == 'string' then table.insert(facts, 'parent'); table.insert(facts, meta.parent_id) end
  if type(payload.description) == 'string' then
    table.insert(facts, 'description'); table.insert(facts, string.sub(payload.description, 1, 1000))
  end
  if context.inject_elf_context == false then table.insert(facts, 'elf'); table.insert(facts, 'off') end
  for _, name in ipairs({ 'path', 'workspace' }) do
    if type(context[name]) == 'string' then table.insert(facts, 'context_' .. name); table.insert(facts, string.sub(context[name], 1, 1000)) end
  end
  return facts
end

-- ms since the epoch of an ISO-8601 UTC time as the callers write it (2026-12-07T15:12:37.123Z), or nil
-- (days from the civil date: the inverse of iso_from_ms). Each text is parsed once per run of a
-- script: a batch of ends shares its end time, and the tasks of one claim their start time.
local ISO_MS = {}
local function ms_from_iso(text)
  if type(text) ~= 'string' then return nil end
  local known = ISO_MS[text]
  if known then return known end
  local y, m, d, hh, mi, ss, frac = string.match(text, '^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)%.?(%d*)Z$')
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  local days = era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
  local ms = ((days * 24 + tonumber(hh)) * 60 + tonumber(mi)) * 60000 + tonumber(ss) * 1000 + tonumber(string.sub(frac .. '000', 1, 3))
  ISO_MS[text] = ms
  return ms
end

-- The 1-based bucket of `value` among `bounds` (#bounds + 1: past them all), as bucketOf in metric-buckets.ts.
local function bound_index(bounds, value)
  for i, bound in ipairs(bounds) do
    if value <= bound then return i end
  end
  return #bounds + 1
end

-- A failed output's `failure.code` (lib/protocol/failure.ts), 'unknown' when it has none it could be;
-- decoded only for failures, and only a word is kept, so a metrics label stays a code.
local function failure_code_of(output)
  local ok, o = pcall(cjson.decode, output)
  local code = ok and type(o) == 'table' and type(o.failure) == 'table' and o.failure.code
  if type(code) == 'string' and #code <= 64 and string.match(code, '^[a-z][a-z0-9_]*$') then return code end
  return 'unknown'
end

-- The /metrics and /history counters (HINCRBY), written at once, or, while a script ends a batch of
-- tasks (lua/finish-4.lua sets COUNTS.sums), summed per key and field and written once each by
-- flush_counts: one HINCRBY by n instead of n. `expire_at`: the hash's expiry, set when the field is new
-- (the increment is all it holds).
local COUNTS = { sums = nil, keys = nil }
local function count_add(key, field, n, expire_at)
  if not COUNTS.sums then
    if redis.call('HINCRBY', key, field, n) == n and expire_at then redis.call('EXPIREAT', key, expire_at) end
    return
  end
  local fields = COUNTS.sums[key]
  if not fields then
    fields = { order = {}, n = {}, expire_at = {} }
    COUNTS.sums[key] = fields
    table.insert(COUNTS.keys, key)
  end
  if not fields.n[field] then
    fields.n[field] = 0
    table.insert(fields.order, field)
  end
  fields.n[field] = fields.n[field] + n
  if expire_at then fields.expire_at[field] = expire_at end
end

local function begin_counts()
  COUNTS.sums, COUNTS.keys = {}, {}
end

local function flush_counts()
  local sums, keys = COUNTS.sums, COUNTS.keys
  COUNTS.sums, COUNTS.keys = nil, nil
  for _, key in ipairs(keys) do
    local fields = sums[key]
    for _, field in ipairs(fields.order) do count_add(key, field, fields.n[field], fields.expire_at[field]) end
  end
end

-- Counts one task end for /metrics and /history (read by lib/redis/task-metrics.ts): by domain, status
-- and failure code; its run time (from the start of the attempt that ended it, when it started) in the
-- duration histogram; and, by domain and client, in the hash of the current hour, which expires once
-- the longest history window has passed it (set when a field is new: a new hash has only new fields).
-- Times are the callers' (`now_iso`, else Redis'): the start and the end of an attempt come from the
-- same agent.
local function record_task_end(domain, status, output, started_at, client, now_iso)
  local code = status == 'failed' and failure_code_of(output) or ''
  count_add(KEY.metricsTasks(), domain .. METRIC_SEP .. status .. METRIC_SEP .. code, 1)
  if type(client) ~= 'string' or #client > 64 or not string.match(client, '^%w[%w_-]*$') then client = DEFAULT_CLIENT end
  local now = ms_from_iso(now_iso) or now_ms()
  local started = ms_from_iso(started_at)
  local hour = math.floor(now / 1000 / HISTORY_BUCKET_S) * HISTORY_BUCKET_S
  local hkey = KEY.history(string.format('%d', hour))
  local whose = domain .. METRIC_SEP .. string.lower(client) .. METRIC_SEP
  count_add(hkey, whose .. status, 1, hour + HISTORY_KEEP_S)
  if started and now >= started then
    local ran = now - started
    local bucket = bound_index(TASK_BOUNDS_MS, ran)
    local head = domain .. METRIC_SEP .. status .. METRIC_SEP
    count_add(KEY.metricsTaskSeconds(), head .. 'b' .. bucket, 1)
    count_add(KEY.metricsTaskSeconds(), head .. 'sum_ms', ran)
    count_add(hkey, whose .. 'b' .. bucket, 1)
  end
end

-- Set below: ends the waits of the tasks that depend on a task that just ended (finish_result calls it).
local release_dependents

-- Writes a terminal result exactly as protocol.md says, sets retention, publishes, and records an event.
-- Every task end passes here, so this is where it is counted (record_task_end), and where the tasks
-- waiting on it are released or failed, in the same atomic step (release_dependents): no process can
-- die between a task's end and its dependents' release.
local function finish_result(events_key, id, status, output, err, now_iso, retention_s, domain, attempts, raw)
  local rkey = KEY.result(id)
  local lkey = KEY.logs(id)
  -- has_dependents: set by the submit of a task that waits on this one (lua/submit-after-1.lua).
  local r = redis.call('HMGET', rkey, 'started_at', 'client_id', 'has_dependents')
  record_task_end(domain, status, output, r[1], r[2], now_iso)
  redis.call('HSET', rkey, 'task_id', id, 'status', status, 'output', output, 'completed_at', now_iso, 'attempts', attempts)
  local msg = { status = status, output = output, completed_at = now_iso }
  if status == 'failed' then
    redis.call('HSET', rkey, 'error', err)
    msg.error = err
    -- The task as it was sent, so POST /jobs/{id}/retry can send it again once it is gone from the queues.
    if raw then redis.call('HSET', rkey, 'input', raw) end
  end
  if retention_s > 0 then
    redis.call('EXPIRE', rkey, retention_s)
    redis.call('EXPIRE', lkey, retention_s)
  end
  redis.call('PUBLISH', rkey, cjson.encode(msg))
  redis.call('XADD', events_key, 'MAXLEN', '~', 10000, '*', 'type', 'task.finished', 'task_id', id,
    'status', status, 'domain', domain, 'error', err, 'at', now_iso, unpack(task_facts(raw)))
  if r[3] then release_dependents(events_key, id, status, err, now_iso, retention_s) end
end

-- What a failed result's output says of a failure the scripts decide themselves (lib/protocol/failure.ts).
local function failure(code)
  return { code = code, retryable = false }
end

-- A task's wait is over (released, failed or cancelled): its wait record goes, and it leaves the set of
-- its domain's waiting tasks (lua/submit-after-1.lua wrote both).
local function end_wait(id, domain)
  redis.call('DEL', KEY.waitRecord(id))
  if domain then redis.call('SREM', KEY.dependencyWaiters(domain), id) end
end

-- A waiting task whose dependencies all ended (lib/redis/task-dependencies.ts): a task goes to its
-- domain's pending queue exactly as a submit puts it there; a workflow (kind `workflow`, the parent of
-- its steps) ends, completed when every step completed, else failed with the steps that did not.
local function release_waiting(events_key, id, w, now_iso, retention_s)
  local raw, domain, kind, failed, steps = w[1], w[2], w[4], w[5] or '', w[6] or '0'
  end_wait(id, domain)
  if kind == 'workflow' then
    if failed == '' then
      finish_result(events_key, id, 'completed', cjson.encode({ summary = 'all ' .. steps .. ' steps completed', steps = tonumber(steps) }),
        '', now_iso, retention_s, domain, 0, raw)
    else
      local names = string.sub(failed, 2)
      local err = 'steps that did not complete: ' .. names
      finish_result(events_key, id, 'failed', cjson.encode({ error = err, failed_steps = names, steps = tonumber(steps), failure = failure('child_failed') }),
        err, now_iso, retention_s, domain, 0, raw)
    end
    return
  end
  redis.call('HSET', KEY.result(id), 'status', 'pending', 'released_at', now_iso)
  redis.call('LPUSH', KEY.pending(domain), raw)
  redis.call('PUBLISH', KEY.notifications(domain), raw)
end

-- `id` ended with `status`: each task waiting on it counts one dependency less, and is released when
-- none is left; a dependency that did not complete fails a waiting task (code dependency_failed) unless
-- it runs anyway (run_if `always`, and a workflow, which waits for all its steps). The set of dependents
-- is deleted here, so a task's end releases each of them once; a dependent that ended meanwhile
-- (cancelled while it waited) is skipped.
release_dependents = function(events_key, id, status, err, now_iso, retention_s)
  local dkey = KEY.dependents(id)
  local waiting = redis.call('SMEMBERS', dkey)
  redis.call('DEL', dkey)
  table.sort(waiting)
  for _, dep in ipairs(waiting) do
    local wkey = KEY.waitRecord(dep)
    local w = redis.call('HMGET', wkey, 'raw', 'domain', 'run_if', 'kind', 'failed', 'steps')
    if w[1] then
      if redis.call('HGET', KEY.result(dep), 'status') ~= 'waiting' then
        end_wait(dep, w[2])
      elseif status ~= 'completed' and w[3] ~= 'always' and w[4] ~= 'workflow' then
        end_wait(dep, w[2])
        local why = 'its dependency ' .. id .. ' ' .. status .. (err ~= '' and (': ' .. string.sub(err, 1, 300)) or '')
        task_log(dep, 'dependencies', w[2], '[' .. now_iso .. '] not run: ' .. why)
        finish_result(events_key, dep, 'failed', cjson.encode({ error = 'not run: ' .. why, dependency = id, failure = failure('dependency_failed') }),
          'not run: ' .. why, now_iso, retention_s, w[2], 0, w[1])
      else
        if status ~= 'completed' then
          w[5] = (w[5] or '') .. ',' .. id
          redis.call('HSET', wkey, 'failed', w[5])
        end
        if redis.call('HINCRBY', wkey, 'remaining', -1) <= 0 then
          task_log(dep, 'dependencies', w[2], '[' .. now_iso .. '] released: its last dependency ' .. id .. ' ' .. status)
          release_waiting(events_key, dep, w, now_iso, retention_s)
        end
      end
    end
  end
end

-- The task id in text that may not be JSON; only an id that follows the rule names a result to write.
local function recover_id(raw)
  local id = string.match(raw, '"task_id"%s*:%s*"([^"\\]+)"')
  if id and valid_task_id(id) then return id end
  return nil
end

-- Moves raw input that cannot be run into tasks:dead:{domain}, the reason kept next to it; marks the
-- task failed (output.failure.code = code) when an id can be recovered from the text, or when the caller
-- names the key its client waits on (`named_id`, such as the decimal text of a numeric task_id).
local function dead_letter(dead_key, events_key, raw, reason, code, domain, now_iso, retention_s, named_id)
  local id = recover_id(raw) or named_id
  local entry_id = string.sub(redis.sha1hex(raw .. reason .. now_iso .. tostring(CLOCK.us) .. redis.call('LLEN', dead_key)), 1, 16)
  local envelope = { id = entry_id, reason = reason, raw = raw, domain = domain, dead_lettered_at = now_iso }
  if id then envelope.task_id = id end
  redis.call('LPUSH', dead_key, cjson.encode(envelope))
  redis.call('HINCRBY', KEY.metricsDeadLetters(), domain .. METRIC_SEP .. code, 1)
  if id then
    local err = 'dead-lettered: ' .. reason
    finish_result(events_key, id, 'failed', cjson.encode({ error = err, dead_letter_id = entry_id, failure = failure(code) }), err,
      now_iso, retention_s, domain, 0)
  else
    redis.call('XADD', events_key, 'MAXLEN', '~', 10000, '*', 'type', 'task.dead_lettered', 'domain', domain,
      'reason', reason, 'at', now_iso)
  end
end

-- Appends one ended attempt to the history kept in dan:task:{id}; returns the history as JSON text.
local function add_history(tkey, history_text, attempt, agent, started_at, ended_at, reason)
  local history = {}
  if history_text and history_text ~= '' then
    local ok, h = pcall(cjson.decode, history_text)
    if ok and type(h) == 'table' then history = h end
  end
  table.insert(history, { attempt = attempt, agent = agent, started_at = started_at, ended_at = ended_at, reason = reason })
  local text = cjson.encode(history)
  redis.call('HSET', tkey, 'history', text)
  return text
end

-- Adds "attempt_history": [...] to an output object's JSON text (spliced, so the rest stays as written).
local function with_history(output, history_text)
  if not history_text then return output end
  if string.find(output, '^%s*{%s*}%s*$') then return '{"attempt_history":' .. history_text .. '}' end
  local spliced = string.gsub(output, '}%s*$', function() return ',"attempt_history":' .. history_text .. '}' end)
  return spliced
end

-- Exponential backoff with jitter: attempt n waits between half and all of min(cap, base * 2^(n-1)).
local function backoff_ms(attempts, base, cap)
  local d = base * 2 ^ (attempts - 1)
  if d > cap then d = cap end
  local jitter = (CLOCK.us % 997) / 996
  return math.floor(d / 2 + (d / 2) * jitter)
end

-- Rebuilds the attempt record (dan:task:{id}) of a task that runs but whose record was deleted under it
-- (by hand, or by a tool that cleans keys): from its raw text in tasks:active and its result hash, so the
-- task ends, or runs again, instead of staying in_progress forever. Only while its result says it runs.
-- Returns the raw text, or nil (not running, or not among the first 1000 entries of the active list).
local function rebuild_record(active_key, id, domain, token)
  local r = redis.call('HMGET', KEY.result(id), 'status', 'attempts', 'agent_id', 'started_at')
  if r[1] ~= 'in_progress' then return nil end
  for _, raw in ipairs(redis.call('LRANGE', active_key, 0, 999)) do
    if string.find(raw, id, 1, true) then
      local ok, task = pcall(cjson.decode, raw)
      if ok and type(task) == 'table' and task.task_id == id then
        local md = type(task.metadata) == 'table' and task.metadata or {}
        local priority = (md.priority == 'high' or md.priority == 'low') and md.priority or 'normal'
        redis.call('HSET', KEY.task(id), 'raw', raw, 'domain', domain, 'owner', r[3] or '', 'token', token,
          'attempts', tonumber(r[2]) or 1, 'priority', priority, 'started_at', r[4] or '')
        if type(md.max_attempts) == 'number' then redis.call('HSET', KEY.task(id), 'max_attempts', md.max_attempts) end
        return raw
      end
    end
  end
  return nil
end

-- For a lease holder whose attempt record is gone: rebuilds it when the lease is still in leases_key and
-- the result names the agent whose token this is (tokens start with '<agent id>:'). Returns true if so.
local function reclaim_own_record(leases_key, active_key, id, domain, token)
  if redis.call('EXISTS', KEY.task(id)) == 1 or not redis.call('ZSCORE', leases_key, id) then return false end
  local agent = redis.call('HGET', KEY.result(id), 'agent_id')
  if not agent or string.sub(token, 1, #agent + 1) ~= agent .. ':' then return false end
  return rebuild_record(active_key, id, domain, token) ~= nil
end

-- Ends a leased task's current attempt with a retryable reason: into dan:delayed:{domain} with backoff,
-- or failed with its attempt history once its attempts are spent. Q holds the script's keys and settings:
-- active, leases, delayed, events, domain, now_iso, retention, default_max, base, cap, and optionally
-- now (ms). Without `output`, a final failure is the scripts' own: its lease lapsed (lease_expired).
-- Returns 1 requeued, 2 failed, 0 nothing to do.
local function retry_or_fail(id, reason, Q, output)
  local tkey = KEY.task(id)
  local f = redis.call('HMGET', tkey, 'raw', 'attempts', 'max_attempts', 'owner', 'started_at', 'history')
  if not f[1] and rebuild_record(Q.active, id, Q.domain, '') then
    f = redis.call('HMGET', tkey, 'raw', 'attempts', 'max_attempts', 'owner', 'started_at', 'history')
  end
  redis.call('ZREM', Q.leases, id)
  local raw = f[1]
  if not raw then return 0 end
  redis.call('LREM', Q.active, 1, raw)
  local attempts = tonumber(f[2]) or 1
  local max_attempts = tonumber(f[3]) or Q.default_max
  local owner = f[4] or ''
  if owner == '' then owner = '?' end
  local history = add_history(tkey, f[6], attempts, owner, f[5] or '', Q.now_iso, reason)
  local ended = '[' .. Q.now_iso .. '] attempt ' .. attempts .. ' ended: ' .. reason .. ' (owner ' .. owner .. ')'
  if attempts >= max_attempts then
    local err = 'gave up after ' .. attempts .. (attempts == 1 and ' attempt' or ' attempts') .. '; the last ended: ' .. reason
    task_log(id, owner, Q.domain, ended .. '; no attempts left')
    redis.call('DEL', tkey)
    local final = output or cjson.encode({ error = err, failure = failure('lease_expired') })
    finish_result(Q.events, id, 'failed', with_history(final, history),
      err, Q.now_iso, Q.retention, Q.domain, attempts, raw)
    return 2
  end
  -- A script that already read the clock passes it in Q.now, so a retry due at once is due in that script too.
  local now = Q.now or now_ms()
  local delay = backoff_ms(attempts, Q.base, Q.cap)
  redis.call('HSET', tkey, 'owner', '', 'token', '')
  redis.call('ZADD', Q.delayed, now + delay, id)
  redis.call('HSET', KEY.result(id), 'status', 'pending', 'retry_at', iso_from_ms(now + delay))
  task_log(id, owner, Q.domain,
    ended .. '; attempt ' .. (attempts + 1) .. ' of ' .. max_attempts .. ' in ' .. string.format('%.1f', delay / 1000) .. ' s')
  return 1
end
