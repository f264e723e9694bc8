-- reclaim: ends the current attempt of leased tasks whose lease lapsed (mode 'expired') or of all of one
-- dead agent's (mode 'owner'): each is retried after a backoff, or fails with its attempt history (and
-- failure code lease_expired) once its attempts are spent.
--
-- KEYS (K.<name>): leases (dan:leases:{d}), active (tasks:active:{d}), delayed (dan:delayed:{d}),
--   events (dan:events), logStream (dan:logs)
-- ARGV (A.<name>): mode, agentId (mode owner), nowIso, retentionS, domain, defaultMaxAttempts, reason,
--   retryBaseMs, retryMaxMs, keyPrefix
-- Returns: {requeued, failed}.
LOG.stream = K.logStream
local ids
if A.mode == 'expired' then
  ids = redis.call('ZRANGEBYSCORE', K.leases, '-inf', now_ms(), 'LIMIT', 0, 200)
else
  ids = {}
  for _, id in ipairs(redis.call('ZRANGE', K.leases, 0, -1)) do
    if redis.call('HGET', KEY.task(id), 'owner') == A.agentId then table.insert(ids, id) end
  end
end
local Q = { active = K.active, leases = K.leases, delayed = K.delayed, events = K.events, domain = A.domain,
  now_iso = A.nowIso, retention = tonumber(A.retentionS), default_max = tonumber(A.defaultMaxAttempts),
  base = tonumber(A.retryBaseMs), cap = tonumber(A.retryMaxMs) }
local requeued, failed = 0, 0
for _, id in ipairs(ids) do
  local r = retry_or_fail(id, A.reason, Q)
  if r == 1 then requeued = requeued + 1 elseif r == 2 then failed = failed + 1 end
end
return { requeued, failed }
