-- deregister: removes every registry entry of one agent (protocol.md's agents:* keys).
--
-- KEYS: all, domains, workers (the role sets), ofDomain (agents:domains:{domain}, touched only when the
--       agent has a domain), info, heartbeat (the agent's own keys), main (the main orchestrator's id).
-- ARGV: agentId, domain ('' for none).
-- Returns: 1.
redis.call('SREM', K.all, A.agentId)
redis.call('SREM', K.domains, A.agentId)
redis.call('SREM', K.workers, A.agentId)
if A.domain ~= '' then redis.call('SREM', K.ofDomain, A.agentId) end
redis.call('DEL', K.info, K.heartbeat)
if redis.call('GET', K.main) == A.agentId then redis.call('DEL', K.main) end
return 1
