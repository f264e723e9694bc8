-- farm-claim: claims a chunk for an agent. First hands back chunks whose lease lapsed, then takes the
-- first queued chunk none of whose files another agent has locked and that this agent did not hand back
-- itself, locks all its files, leases it. Events go to the farm's events stream, ordered by stream id.
--
-- KEYS: queue (the farm's chunk queue), leases (chunk id -> lease expiry), events (the farm's stream),
--       agentLocks (the files this agent holds). A chunk's hash and a file's lock come from the key
--       table: KEY.farmChunk(A.farmId, id), KEY.farmLock(A.farmId, file).
-- ARGV: keyPrefix, farmId, agent, nowMs, leaseMs, lockMs.
-- Returns: the chunk id, or {0, blocked, excluded}: queued chunks skipped for locks, and for having
--          been handed back by this agent.
local agent = A.agent
local now, leaseMs, lockMs = tonumber(A.nowMs), tonumber(A.leaseMs), tonumber(A.lockMs)
local function chunk(id) return KEY.farmChunk(A.farmId, id) end
local function lock(file) return KEY.farmLock(A.farmId, file) end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.leases, '-inf', now)) do
  redis.call('ZREM', K.leases, id)
  redis.call('HSET', chunk(id), 'status', 'queued')
  redis.call('RPUSH', K.queue, id)
  redis.call('XADD', K.events, 'MAXLEN', '~', 10000, '*', 'type', 'lease_lapsed', 'chunk', id)
end
local blocked, excluded = 0, 0
for _, id in ipairs(redis.call('LRANGE', K.queue, 0, -1)) do
  local files = cjson.decode(redis.call('HGET', chunk(id), 'files') or '[]')
  local free = true
  if redis.call('HEXISTS', chunk(id), 'gave_back:' .. agent) == 1 then free = false excluded = excluded + 1 end
  for _, file in ipairs(files) do
    local owner = redis.call('GET', lock(file))
    if owner and owner ~= agent then free = false break end
  end
  if free then
    for _, file in ipairs(files) do
      redis.call('SET', lock(file), agent, 'PX', lockMs)
      redis.call('SADD', K.agentLocks, file)
      redis.call('XADD', K.events, 'MAXLEN', '~', 10000, '*', 'type', 'lock', 'agent', agent, 'file', file, 'chunk', id)
    end
    redis.call('LREM', K.queue, 1, id)
    redis.call('ZADD', K.leases, now + leaseMs, id)
    redis.call('HSET', chunk(id), 'status', 'claimed', 'agent', agent)
    redis.call('HINCRBY', chunk(id), 'claims', 1)
    return id
  end
  if free == false and redis.call('HEXISTS', chunk(id), 'gave_back:' .. agent) == 0 then blocked = blocked + 1 end
end
return {0, blocked, excluded}
