-- renew: extends the leases an agent still holds; reports the ones it lost.
--
-- KEYS (K.<name>): leases (dan:leases:{d}), active (tasks:active:{d})
-- ARGV (A.<name>): leaseMs, keyPrefix, domain; then from ARGV[REST] pairs: task id, lease token
-- A task whose attempt record was deleted while it ran keeps its lease: the record is rebuilt (see
-- reclaim_own_record), so the task still ends once, where its client looks.
-- Returns: the ids whose lease is no longer this caller's (the caller should stop that work).
local now = now_ms()
local lost = {}
for i = REST, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', KEY.task(id), 'token') == token or reclaim_own_record(K.leases, K.active, id, A.domain, token) then
    redis.call('ZADD', K.leases, 'XX', now + tonumber(A.leaseMs), id)
  else
    table.insert(lost, id)
  end
end
return lost
