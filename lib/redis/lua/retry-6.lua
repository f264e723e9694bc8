-- retry: ends the caller's attempt at a task with a failure that may pass (a rate-limited or failing
-- model API, a crashed worker): the task waits in dan:delayed:{d} with backoff and runs again, or fails
-- with its attempt history once its attempts are spent. Only the lease holder may do this (its attempt
-- record, if deleted under it, is rebuilt first: reclaim_own_record).
--
-- KEYS (K.<name>): task (dan:task:{id}), active (tasks:active:{d}), leases (dan:leases:{d}),
--   delayed (dan:delayed:{d}), events (dan:events), logStream (dan:logs)
-- ARGV (A.<name>): taskId, token, reason (one line), finalOutput (JSON text of the final failure), nowIso,
--   retentionS, domain, defaultMaxAttempts, retryBaseMs, retryMaxMs, keyPrefix
-- Returns: 1 requeued, 2 failed (out of attempts), 0 lease lost (nothing written).
LOG.stream = K.logStream
local held = redis.call('HGET', K.task, 'token')
if not held and reclaim_own_record(K.leases, K.active, A.taskId, A.domain, A.token) then held = A.token end
if held ~= A.token then return 0 end
local Q = { active = K.active, leases = K.leases, delayed = K.delayed, events = K.events, domain = A.domain,
  now_iso = A.nowIso, retention = tonumber(A.retentionS), default_max = tonumber(A.defaultMaxAttempts),
  base = tonumber(A.retryBaseMs), cap = tonumber(A.retryMaxMs) }
return retry_or_fail(A.taskId, A.reason, Q, A.finalOutput)
