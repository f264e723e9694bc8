-- heartbeat: refreshes agents that are still registered; never re-creates a deregistered agent.
--
-- KEYS: none; each agent's info hash and heartbeat key come from the generated key table (KEY.agentInfo,
--       KEY.heartbeat), since one call beats for an agent and all its workers.
-- ARGV: keyPrefix, nowIso, ttlMs, then from ARGV[REST] pairs: agent id, status.
-- Returns: the ids that are no longer registered (the caller should stop heartbeating them).
local gone = {}
for i = REST, #ARGV, 2 do
  local id = ARGV[i]
  local info = KEY.agentInfo(id)
  if redis.call('EXISTS', info) == 1 then
    redis.call('HSET', info, 'last_heartbeat', A.nowIso, 'status', ARGV[i + 1])
    redis.call('SET', KEY.heartbeat(id), A.nowIso, 'PX', A.ttlMs)
  else
    table.insert(gone, id)
  end
end
return gone
