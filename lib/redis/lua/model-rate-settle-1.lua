-- model-rate-settle: puts a call's real tokens in place of the estimate it was admitted with.
--
-- KEYS (K.<name>): window (dan:model-rate:{model})
-- ARGV (A.<name>): entry (`{id}|{input}|{output}` as admitted), settled (`{id}|{input}|{output}` as used)
-- The entry keeps its admission time; one already out of the window is left out.
-- Returns: 1 settled, 0 the entry was gone.
local at = redis.call('ZSCORE', K.window, A.entry)
if not at then return 0 end
redis.call('ZREM', K.window, A.entry)
redis.call('ZADD', K.window, at, A.settled)
return 1
