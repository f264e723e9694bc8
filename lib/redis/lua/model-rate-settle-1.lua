-- model-rate-settle: puts a call's real tokens in place of the estimate it was admitted with.
--
-- KEYS (K.<name>): window (dan:model-rate:{model})
-- ARGV (A.<name>): entry (`{id}|{input}|{output}` as admitted), settled (`{id}|{input}|{output}` as used),
--                  sentAfterMs (how long after its admission the call left for the API)
-- The entry's time moves from its admission to when the call left, so a call held up on its way
-- (a busy gateway) still keeps its place a whole window from when the API saw it; one already out of
-- the window is left out.
-- Returns: 1 settled, 0 the entry was gone.
local at = redis.call('ZSCORE', K.window, A.entry)
if not at then return 0 end
redis.call('ZREM', K.window, A.entry)
redis.call('ZADD', K.window, tonumber(at) + math.max(0, tonumber(A.sentAfterMs) or 0), A.settled)
return 1
