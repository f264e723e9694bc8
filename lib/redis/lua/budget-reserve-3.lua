-- budget-reserve: before a model call, checks every budget it spends from and, when all allow it,
-- reserves the call's estimated cost in each, all at once: concurrent calls see each other's
-- reservations, so a budget is passed by at most the cost of the one call that started under it.
--
-- KEYS (K.<name>): task (dan:budget:task:{id}), client (dan:budget:client:{client}:{day}),
--                  cost (dan:cost:task:{id}: where a refusal is noted for the task's result)
-- ARGV (A.<name>): taskLimit, clientLimit (micro-dollars; '' when that budget is not set),
--                  estimate (micro-dollars reserved for the call), ttlS (expiry of the budget hashes),
--                  hold (the call's reservation id), holdMs (how long its reservation lasts unsettled)
-- A budget hash holds `limit`, `spent` and `reserved` micro-dollars (and `warned`, see cost-settle),
-- and one field `hold:{id}` = `{micro}:{expires at, ms of Redis time}` per call in flight. A hold
-- past its expiry belonged to a gateway that died between this script and cost-settle: it is taken
-- back from `reserved` here, so a dead gateway never eats a budget for longer than holdMs.
-- Returns: {outcome, scope, spent, limit}: outcome 'ok' (reserved), 'exceeded' (spent has reached the
-- limit of `scope`: the call must not be made) or 'wait' (only calls in flight fill that budget: ask
-- again once they ended).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local scopes = {
  { name = 'task', key = K.task, limit = A.taskLimit },
  { name = 'client', key = K.client, limit = A.clientLimit },
}
local wait = nil
for _, s in ipairs(scopes) do
  if s.limit ~= '' then
    -- Reclaim the holds of calls whose gateway never settled them.
    local fields = redis.call('HGETALL', s.key)
    local lapsed = 0
    for i = 1, #fields, 2 do
      if string.sub(fields[i], 1, 5) == 'hold:' then
        local _, _, micro, expires = string.find(fields[i + 1], '^(%d+):(%d+)$')
        if expires == nil or tonumber(expires) <= now then
          redis.call('HDEL', s.key, fields[i])
          lapsed = lapsed + (tonumber(micro) or 0)
        end
      end
    end
    if lapsed > 0 and redis.call('HINCRBY', s.key, 'reserved', 0 - lapsed) < 0 then redis.call('HSET', s.key, 'reserved', 0) end
    local held = redis.call('HMGET', s.key, 'spent', 'reserved')
    local spent = tonumber(held[1]) or 0
    local reserved = tonumber(held[2]) or 0
    local limit = tonumber(s.limit)
    if spent >= limit then
      redis.call('HSET', K.cost, 'refused_scope', s.name, 'refused_spent', spent, 'refused_limit', limit)
      redis.call('EXPIRE', K.cost, tonumber(A.ttlS))
      return { 'exceeded', s.name, spent, limit }
    end
    if wait == nil and spent + reserved >= limit then wait = { 'wait', s.name, spent, limit } end
  end
end
if wait ~= nil then return wait end
local estimate = tonumber(A.estimate)
for _, s in ipairs(scopes) do
  if s.limit ~= '' then
    redis.call('HSET', s.key, 'limit', s.limit)
    if estimate > 0 then
      redis.call('HINCRBY', s.key, 'reserved', estimate)
      redis.call('HSET', s.key, 'hold:' .. A.hold, estimate .. ':' .. (now + tonumber(A.holdMs)))
    end
    redis.call('EXPIRE', s.key, tonumber(A.ttlS))
  end
end
return { 'ok', '', 0, 0 }
