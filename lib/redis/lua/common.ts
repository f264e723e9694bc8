/**
 * Lua helpers shared by the queue scripts, prepended to each script's body. Redis runs a script
 * atomically, so every multi-key state move (claim, finish, requeue, dead-letter) is all-or-nothing.
 *
 * Conventions inside the scripts: `now_ms()` is Redis' own clock (leases compare times written by
 * different hosts, so one clock decides); `now_iso` comes from the caller and is only displayed.
 */
export const COMMON_LUA = `
-- Set by each script to its dan:logs key, so task log lines also reach the network-wide log stream.
local LOG = { stream = false }

-- One progress line, in the task's protocol log and in the log stream with its task, agent and domain.
local function task_log(result_prefix, id, agent, domain, line)
  redis.call('RPUSH', result_prefix .. id .. ':logs', line)
  if LOG.stream then
    redis.call('XADD', LOG.stream, 'MAXLEN', '~', 20000, '*', 'task', id, 'agent', agent, 'domain', domain, 'line', line)
  end
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- What the task.finished event carries of the task itself (for ELF): client, parent, description.
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
  return facts
end

-- Writes a terminal result exactly as protocol.md says, sets retention, publishes, and records an event.
local function finish_result(result_prefix, events_key, id, status, output, err, now_iso, retention_s, domain, attempts, raw)
  local rkey = result_prefix .. id
  local lkey = rkey .. ':logs'
  redis.call('HSET', rkey, 'task_id', id, 'status', status, 'output', output, 'completed_at', now_iso, 'attempts', attempts)
  local msg = { status = status, output = output, completed_at = now_iso }
  if status == 'failed' then
    redis.call('HSET', rkey, 'error', err)
    msg.error = err
  end
  if retention_s > 0 then
    redis.call('EXPIRE', rkey, retention_s)
    redis.call('EXPIRE', lkey, retention_s)
  end
  redis.call('PUBLISH', rkey, cjson.encode(msg))
  redis.call('XADD', events_key, 'MAXLEN', '~', 10000, '*', 'type', 'task.finished', 'task_id', id,
    'status', status, 'domain', domain, 'error', err, 'at', now_iso, unpack(task_facts(raw)))
end

local function recover_id(raw)
  return string.match(raw, '"task_id"%s*:%s*"([^"\\\\]+)"')
end

-- Moves raw input that cannot be a task into tasks:dead:{domain}, the reason kept next to it; marks the
-- task failed when an id can be recovered from the text.
local function dead_letter(dead_key, events_key, result_prefix, raw, reason, domain, now_iso, retention_s)
  local id = recover_id(raw)
  local envelope = { reason = reason, raw = raw, domain = domain, dead_lettered_at = now_iso }
  if id then envelope.task_id = id end
  redis.call('LPUSH', dead_key, cjson.encode(envelope))
  if id then
    local err = 'dead-lettered: ' .. reason
    finish_result(result_prefix, events_key, id, 'failed', cjson.encode({ error = err }), err, now_iso, retention_s, domain, 0)
  else
    redis.call('XADD', events_key, 'MAXLEN', '~', 10000, '*', 'type', 'task.dead_lettered', 'domain', domain,
      'reason', reason, 'at', now_iso)
  end
end

-- Puts a leased task back at the head of its pending queue, or fails it once its attempts are spent.
-- Returns 1 requeued, 2 failed, 0 nothing to do.
local function requeue(id, reason, task_prefix, result_prefix, active_key, leases_key, pending_key, events_key,
                       domain, now_iso, retention_s, default_max)
  local tkey = task_prefix .. id
  local f = redis.call('HMGET', tkey, 'raw', 'attempts', 'max_attempts', 'owner')
  redis.call('ZREM', leases_key, id)
  local raw = f[1]
  if not raw then return 0 end
  redis.call('LREM', active_key, 1, raw)
  local attempts = tonumber(f[2]) or 1
  local max_attempts = tonumber(f[3]) or default_max
  local owner = f[4] or '?'
  task_log(result_prefix, id, owner, domain,
    '[' .. now_iso .. '] attempt ' .. attempts .. ' ended: ' .. reason .. ' (owner ' .. owner .. ')')
  if attempts >= max_attempts then
    local err = 'gave up after ' .. attempts .. ' attempts; the last ended: ' .. reason
    redis.call('DEL', tkey)
    finish_result(result_prefix, events_key, id, 'failed', cjson.encode({ error = err }), err, now_iso, retention_s, domain, attempts, raw)
    return 2
  end
  redis.call('HSET', tkey, 'owner', '', 'token', '')
  redis.call('HSET', result_prefix .. id, 'status', 'pending')
  -- RPUSH: consumers take from the right, so the task is next in line.
  redis.call('RPUSH', pending_key, raw)
  return 1
end
`;
