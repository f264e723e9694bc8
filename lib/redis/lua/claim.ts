import { COMMON_LUA } from './common.js';

/**
 * claim: takes up to `count` tasks for one consumer, highest priority first.
 *
 * KEYS: 1 tasks:pending:{d}  2 dan:ingest:{d}  3 dan:ready:{d}:high  4 :normal  5 :low
 *       6 tasks:active:{d}   7 dan:leases:{d}  8 tasks:dead:{d}       9 dan:events  10 dan:logs
 *       11 dan:seq  12 dan:delayed:{d}
 * ARGV: 1 count  2 agent id  3 lease ms  4 task key prefix  5 result key prefix  6 domain
 *       7 most raw items to sort per call  8 default max attempts  9 now (ISO, for display)
 *       10 retention s  11 lease token prefix  12 grace ms for a raw client's result HSET
 *       13 retry base ms  14 retry cap ms  15 most tasks waiting in the domain (0: no limit)
 *       16 '1': look for lapsed leases and due retries (a consumer asks a few times a second, not on
 *       every call)  17 '1': the ingest list may hold tasks (a blocked wait moved one there)
 * Returns: {claimed, deferred, next_due}: claimed is a list of {task id, raw, attempt, lease token,
 * priority}; deferred counts tasks held back because their `results` hash does not exist yet; next_due
 * is how many ms until the next delayed retry is due (-1: none, or not looked at).
 *
 * Steps: (1) end up to 16 lapsed leases (retried with backoff, or failed when out of attempts);
 * (2) move due retries from the delayed set to the ready lists; (3) move raw input from the ingest list
 * and the pending queue into per-priority ready lists, dead-lettering what is not a JSON object or does
 * not fit under the depth limit, and giving an id to what has none (spliced into the text, so the same
 * id survives a retry); (4) pop from the ready lists high, normal, low. A task whose result has already
 * ended (cancelled, or dead-lettered and pushed again) is dropped; one whose `results` hash a raw client
 * has not written yet waits up to the grace, so the client's `status pending` cannot land on top of
 * ours. Each claimed task gets its `results` hash set to in_progress, its raw text pushed to
 * tasks:active, and a lease.
 */
export const CLAIM_LUA = `${COMMON_LUA}
local count = tonumber(ARGV[1])
local agent = ARGV[2]
local lease_ms = tonumber(ARGV[3])
local task_prefix, result_prefix, domain = ARGV[4], ARGV[5], ARGV[6]
local drain_max = tonumber(ARGV[7])
local default_max = tonumber(ARGV[8])
local now_iso, retention_s, token_prefix = ARGV[9], tonumber(ARGV[10]), ARGV[11]
local grace_ms = tonumber(ARGV[12])
local max_depth = tonumber(ARGV[15])
-- Strict JSON: Redis' decoder otherwise takes NaN, Infinity and hex numbers, which JSON.parse (and so
-- every consumer) refuses; such text must be dead-lettered here, not claimed and failed later.
cjson.decode_invalid_numbers(false)
local now = now_ms()
LOG.stream = KEYS[10]
local Q = { task_prefix = task_prefix, result_prefix = result_prefix, active = KEYS[6], leases = KEYS[7],
  delayed = KEYS[12], events = KEYS[9], domain = domain, now_iso = now_iso, retention = retention_s,
  default_max = default_max, base = tonumber(ARGV[13]), cap = tonumber(ARGV[14]), now = now }

local housekeeping = ARGV[16] == '1'
local lapsed = housekeeping and redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now, 'LIMIT', 0, 16) or {}
for _, id in ipairs(lapsed) do
  local owner = redis.call('HGET', task_prefix .. id, 'owner') or '?'
  retry_or_fail(id, 'lease expired (' .. owner .. ' stopped renewing it)', Q)
end

local ready_key = { high = KEYS[3], normal = KEYS[4], low = KEYS[5] }
local next_due = -1
local delayed = housekeeping and redis.call('ZRANGE', KEYS[12], 0, 63, 'WITHSCORES') or {}
local due_now = { high = {}, normal = {}, low = {} }
for i = 1, #delayed, 2 do
  local id, due = delayed[i], tonumber(delayed[i + 1])
  if due > now then
    next_due = due - now
    break
  end
  redis.call('ZREM', KEYS[12], id)
  local f = redis.call('HMGET', task_prefix .. id, 'raw', 'priority')
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
local room = -1
local function sort_in(raw)
  if not string.find(raw, '^%s*{') then
    dead_letter(KEYS[8], KEYS[9], result_prefix, raw, 'task JSON must be an object', domain, now_iso, retention_s)
    return
  end
  local ok, obj = pcall(cjson.decode, raw)
  if not ok or type(obj) ~= 'table' then
    dead_letter(KEYS[8], KEYS[9], result_prefix, raw, 'not JSON: ' .. tostring(obj), domain, now_iso, retention_s)
    return
  end
  if room == 0 then
    dead_letter(KEYS[8], KEYS[9], result_prefix, raw, 'queue full: ' .. max_depth .. ' tasks already wait in ' .. domain ..
      ' (DAN_MAX_QUEUE_DEPTH); send it again once the queue drains', domain, now_iso, retention_s)
    return
  end
  if room > 0 then room = room - 1 end
  if type(obj.task_id) ~= 'string' or obj.task_id == '' then
    local h = redis.sha1hex(raw .. now .. redis.call('INCR', KEYS[11]))
    local id = string.sub(h, 1, 8) .. '-' .. string.sub(h, 9, 12) .. '-4' .. string.sub(h, 14, 16) .. '-a' ..
      string.sub(h, 18, 20) .. '-' .. string.sub(h, 21, 32)
    -- JSON.parse keeps the last of duplicate keys, so appending wins over a null or numeric task_id.
    if string.find(raw, '^%s*{%s*}%s*$') then
      raw = '{"task_id":"' .. id .. '"}'
    else
      raw = string.gsub(raw, '}%s*$', ',"task_id":"' .. id .. '"}')
    end
    -- No client can write a result for an id it does not know: record it now.
    redis.call('HSET', result_prefix .. id, 'task_id', id, 'status', 'pending')
  end
  local priority = 'normal'
  local md = obj.metadata
  if type(md) == 'table' and (md.priority == 'high' or md.priority == 'low') then priority = md.priority end
  table.insert(buckets[priority], raw)
end

local drained = 0
local sources = { KEYS[1] }
if ARGV[17] == '1' or housekeeping then sources = { KEYS[2], KEYS[1] } end
for _, source in ipairs(sources) do
  if drained < drain_max then
    local items = redis.call('RPOP', source, drain_max - drained)
    if items then
      if room < 0 and max_depth > 0 then
        local waiting = redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[4]) + redis.call('LLEN', KEYS[5]) +
          redis.call('ZCARD', KEYS[12])
        room = math.max(0, max_depth - waiting)
      end
      for _, raw in ipairs(items) do sort_in(raw) end
      drained = drained + #items
    end
  end
end
for priority, list in pairs(buckets) do
  if #list > 0 then redis.call('RPUSH', ready_key[priority], unpack(list)) end
end

local out, active, leases = {}, {}, {}
local deferred = 0
for _, priority in ipairs({ 'high', 'normal', 'low' }) do
  local want = count - #out
  if want <= 0 then break end
  local items = redis.call('LPOP', ready_key[priority], want)
  if items then
    local wait = {}
    for _, raw in ipairs(items) do
      local obj = cjson.decode(raw)
      local id = obj.task_id
      local rkey = result_prefix .. id
      local r = redis.call('HMGET', rkey, 'status', 'attempts')
      local status = r[1]
      if status == 'completed' or status == 'failed' then
        -- Ended while it waited (cancelled): nothing to run. Its attempt record goes too.
        redis.call('DEL', task_prefix .. id)
      else
        -- A raw client LPUSHes, then HSETs status pending. Taking the task before that HSET would let
        -- it overwrite our in_progress (or, for a fast task, our completed). Wait briefly for it.
        local hold = false
        if not status then
          local seen_key = task_prefix .. id .. ':seen'
          redis.call('SET', seen_key, now, 'NX', 'PX', 60000)
          hold = now - tonumber(redis.call('GET', seen_key)) < grace_ms
        end
        if hold then
          table.insert(wait, raw)
        else
          local max_attempts = default_max
          if type(obj.metadata) == 'table' and type(obj.metadata.max_attempts) == 'number' then
            max_attempts = obj.metadata.max_attempts
          end
          local tkey = task_prefix .. id
          -- The result hash counts attempts across requeues (a fresh or dead-lettered task has none or 0).
          local attempt = (tonumber(r[2]) or 0) + 1
          local token = token_prefix .. ':' .. #out
          redis.call('HSET', tkey, 'raw', raw, 'domain', domain, 'owner', agent, 'token', token, 'attempts', attempt,
            'max_attempts', max_attempts, 'priority', priority, 'started_at', now_iso)
          redis.call('HSET', rkey, 'task_id', id, 'status', 'in_progress', 'started_at', now_iso,
            'domain', domain, 'agent_id', agent, 'attempts', attempt)
          table.insert(active, raw)
          table.insert(leases, now + lease_ms)
          table.insert(leases, id)
          table.insert(out, { id, raw, attempt, token, priority })
          local what = obj.type == 'echo' and 'echo task' or 'task'
          local description = type(obj.payload) == 'table' and type(obj.payload.description) == 'string'
            and string.gsub(obj.payload.description, '%s*[\\r\\n]+%s*', ' ') or '(no description)'
          task_log(result_prefix, id, agent, domain, '[' .. now_iso .. '] ' .. agent .. ': claimed ' .. what ..
            ' (attempt ' .. attempt .. ' of ' .. max_attempts .. ', priority ' .. priority .. '): ' .. description)
        end
      end
    end
    -- Back at the head, in their order.
    for i = #wait, 1, -1 do redis.call('LPUSH', ready_key[priority], wait[i]) end
    deferred = deferred + #wait
  end
end
if #active > 0 then
  redis.call('LPUSH', KEYS[6], unpack(active))
  redis.call('ZADD', KEYS[7], unpack(leases))
end
return { out, deferred, next_due }
`;
