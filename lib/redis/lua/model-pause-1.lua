-- model-pause: pauses every agent's calls to a model for as long as the model API asked (a 429's retry-after).
--
-- KEYS (K.<name>): pauses (dan:model-pauses, HASH model -> paused until, ms of Redis time)
-- ARGV (A.<name>): model, forMs
-- A later pause wins over an earlier one; pauses already over are dropped, so the hash stays small.
-- Returns: the time the model is paused until (ms of Redis time).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilMs = now + tonumber(A.forMs)
local all = redis.call('HGETALL', K.pauses)
for i = 1, #all, 2 do
  if (tonumber(all[i + 1]) or 0) <= now then redis.call('HDEL', K.pauses, all[i]) end
end
local current = tonumber(redis.call('HGET', K.pauses, A.model) or '0') or 0
if current >= untilMs then return current end
redis.call('HSET', K.pauses, A.model, untilMs)
return untilMs
