-- api-rate: counts one request of an API key in its current window and says whether it may go on.
--
-- KEYS (K.<name>): counter (dan:api:rate:{key id})
-- ARGV (A.<name>): limit (requests per window), windowMs
-- The window starts with the key's first request and lasts windowMs; the counter expires with it, so
-- every `dan serve` sharing this Redis counts the same requests. Refused requests count too.
-- Returns: {allowed (1 or 0), ms until the window ends}.
local n = redis.call('INCR', K.counter)
if n == 1 then redis.call('PEXPIRE', K.counter, tonumber(A.windowMs)) end
local left = redis.call('PTTL', K.counter)
if left < 0 then
  -- A counter left without its expiry (written by hand) would refuse for ever: give it one window.
  redis.call('PEXPIRE', K.counter, tonumber(A.windowMs))
  left = tonumber(A.windowMs)
end
return { n <= tonumber(A.limit) and 1 or 0, left }
