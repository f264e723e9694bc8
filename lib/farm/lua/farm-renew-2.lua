-- farm-renew: keeps an agent's locks and its chunk's lease alive; a lock another agent took meanwhile
-- (after a lapse) is dropped from the agent's set.
--
-- KEYS: agentLocks (the files this agent holds), leases (chunk id -> lease expiry). A file's lock comes
--       from the key table: KEY.farmLock(A.farmId, file).
-- ARGV: keyPrefix, farmId, agent, lockMs, chunkId ('' for none), leaseExpiryMs.
-- Returns: the number of locks still held.
local lockMs, expiry = tonumber(A.lockMs), tonumber(A.leaseExpiryMs)
local held = 0
for _, file in ipairs(redis.call('SMEMBERS', K.agentLocks)) do
  local lock = KEY.farmLock(A.farmId, file)
  if redis.call('GET', lock) == A.agent then
    redis.call('PEXPIRE', lock, lockMs)
    held = held + 1
  else
    redis.call('SREM', K.agentLocks, file)
  end
end
if A.chunkId ~= '' then redis.call('ZADD', K.leases, 'XX', expiry, A.chunkId) end
return held
