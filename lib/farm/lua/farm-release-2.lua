-- farm-release: releases every lock an agent holds (only those it still owns), recording each release.
--
-- KEYS: agentLocks (the files this agent holds), events (the farm's stream). A file's lock comes from
--       the key table: KEY.farmLock(A.farmId, file).
-- ARGV: keyPrefix, farmId, agent.
-- Returns: the number of locks released.
local released = 0
for _, file in ipairs(redis.call('SMEMBERS', K.agentLocks)) do
  local lock = KEY.farmLock(A.farmId, file)
  if redis.call('GET', lock) == A.agent then
    redis.call('DEL', lock)
    redis.call('XADD', K.events, 'MAXLEN', '~', 10000, '*', 'type', 'unlock', 'agent', A.agent, 'file', file)
    released = released + 1
  end
end
redis.call('DEL', K.agentLocks)
return released
