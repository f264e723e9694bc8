-- model-rate-settle: puts a call's real tokens in place of the estimate it was admitted with.
--
-- KEYS (K.<name>): window (dan:model-rate:{model})
-- ARGV (A.<name>): entry (`{id}|{input}|{output}` as admitted), settled (`{id}|{input}|{output}` as used),
--                  answeredAfterMs (how long after its admission the call's answer began), windowMs
-- The entry's time moves from its admission to when its answer began, by which time the API has
-- counted the call, so a call held up on its way (a busy machine) still keeps its place a whole
-- window from when the API saw it.
-- Returns: 1 settled; 0 the window had dropped the entry (the call took longer than the window),
-- which is put back as of now, the latest the API can have counted it.
local at = redis.call('ZSCORE', K.window, A.entry)
if not at then
  local t = redis.call('TIME')
  redis.call('ZADD', K.window, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), A.settled)
  redis.call('PEXPIRE', K.window, tonumber(A.windowMs) * 2)
  return 0
end
redis.call('ZREM', K.window, A.entry)
redis.call('ZADD', K.window, tonumber(at) + math.max(0, tonumber(A.answeredAfterMs) or 0), A.settled)
return 1
