-- cost-settle: after a model call, records what it cost, in one step: the reservation made by
-- budget-reserve is released and the cost added to each budget, the task's own totals (per model and
-- per worker), the day's counters behind `dan cost`, and the per-model cost counter of /metrics.
--
-- KEYS (K.<name>): task, client (budget hashes, as budget-reserve; touched only when they exist),
--                  cost (dan:cost:task:{id}), day (dan:cost:day:{YYYY-MM-DD}), metrics (dan:metrics:model-calls)
-- ARGV (A.<name>): hasTask ('1' when the call was for a verified task), reserved (micro-dollars to
--                  release), hold (its reservation's id: the `hold:{id}` field budget-reserve wrote),
--                  cost (micro-dollars; '' when the model has no price: counted as unpriced,
--                  never as 0), model, client, domain, worker, sep (the field separator), input, output,
--                  cacheWrite, cacheRead (tokens), ttlS (task hashes' expiry), dayTtlS, warnPercent,
--                  maxFields (fields a task's cost hash may hold; past it new models and workers count as 'other')
-- Returns: a flat list {scope, spent, limit, ...} of the budgets this call took past warnPercent for the first time.
local sep = A.sep
local priced = A.cost ~= ''
local cost = tonumber(A.cost) or 0
local reserved = tonumber(A.reserved) or 0
local crossed = {}
if A.hasTask == '1' then
  for _, s in ipairs({ { name = 'task', key = K.task }, { name = 'client', key = K.client } }) do
    local limit = tonumber(redis.call('HGET', s.key, 'limit') or '')
    if limit ~= nil then
      -- Released only while its hold is there: one that lapsed was taken back by budget-reserve already.
      -- Not HINCRBY by -0: Lua writes that as '-0', which Redis refuses as an integer.
      if reserved > 0 and redis.call('HDEL', s.key, 'hold:' .. A.hold) == 1
        and redis.call('HINCRBY', s.key, 'reserved', 0 - reserved) < 0 then redis.call('HSET', s.key, 'reserved', 0) end
      local spent = redis.call('HINCRBY', s.key, 'spent', cost)
      if spent * 100 >= limit * tonumber(A.warnPercent) and redis.call('HSETNX', s.key, 'warned', 1) == 1 then
        table.insert(crossed, s.name)
        table.insert(crossed, spent)
        table.insert(crossed, limit)
      end
    end
  end
  -- Whether a model or worker keeps its own fields is decided once per call, on its `calls` field (the
  -- first written for any name): a name already counted keeps counting; a new one gets fields only while
  -- the hash holds fewer than maxFields (so it stays under maxFields plus one name's fields), else 'other'.
  -- Once per name, not per field: two reads a call instead of two for each of its twelve fields.
  local function counted_as(group, name)
    if redis.call('HEXISTS', K.cost, group .. sep .. name .. sep .. 'calls') == 0 and redis.call('HLEN', K.cost) >= tonumber(A.maxFields) then
      return 'other'
    end
    return name
  end
  local function add(group, name, field, n)
    if n ~= 0 then redis.call('HINCRBY', K.cost, group .. sep .. name .. sep .. field, n) end
  end
  redis.call('HINCRBY', K.cost, 'calls', 1)
  if priced then redis.call('HINCRBY', K.cost, 'usd_micro', cost) else redis.call('HINCRBY', K.cost, 'unpriced_calls', 1) end
  local tokens = { input_tokens = A.input, output_tokens = A.output, cache_creation_input_tokens = A.cacheWrite, cache_read_input_tokens = A.cacheRead }
  for field, n in pairs(tokens) do
    if tonumber(n) > 0 then redis.call('HINCRBY', K.cost, field, tonumber(n)) end
  end
  for _, g in ipairs({ { 'model', A.model }, { 'worker', A.worker } }) do
    local name = counted_as(g[1], g[2])
    add(g[1], name, 'calls', 1)
    if priced then add(g[1], name, 'usd_micro', cost) else add(g[1], name, 'unpriced_calls', 1) end
    for field, n in pairs(tokens) do add(g[1], name, field, tonumber(n)) end
  end
  redis.call('EXPIRE', K.cost, tonumber(A.ttlS))
end
local who = A.client .. sep .. A.domain .. sep .. A.model
redis.call('HINCRBY', K.day, 'calls' .. sep .. who, 1)
if priced then
  redis.call('HINCRBY', K.day, 'usd' .. sep .. who, cost)
  redis.call('HINCRBY', K.metrics, 'cost' .. sep .. A.model, cost)
else
  redis.call('HINCRBY', K.day, 'unpriced' .. sep .. who, 1)
  redis.call('HINCRBY', K.metrics, 'unpriced' .. sep .. A.model, 1)
end
redis.call('EXPIRE', K.day, tonumber(A.dayTtlS))
return crossed
