-- dead_letter_queue: empties a pending queue nobody may serve (an unknown domain) into its dead-letter
-- list, the reason next to each raw item; tasks with a recoverable id are marked failed with the
-- caller's failure code.
--
-- KEYS (K.<name>): pending (tasks:pending:{d}), dead (tasks:dead:{d}), events (dan:events)
-- ARGV (A.<name>): reason, failureCode, nowIso, retentionS, domain, max (most items), keyPrefix
-- Returns: how many items were moved.
local items = redis.call('RPOP', K.pending, tonumber(A.max))
if not items then return 0 end
for _, raw in ipairs(items) do
  dead_letter(K.dead, K.events, raw, A.reason, A.failureCode, A.domain, A.nowIso, tonumber(A.retentionS))
end
return #items
