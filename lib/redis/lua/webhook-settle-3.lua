-- webhook-settle: records how one delivery attempt ended, in the webhook's delivery log (newest first,
-- bounded): `delivered` and `failed` (out of attempts, or the webhook was removed) end the delivery;
-- `retrying` keeps it, with its attempts counted, due again after `retryInMs`.
--
-- KEYS (K.<name>): deliveries (dan:webhooks:deliveries), due (dan:webhooks:due), log (dan:webhooks:log:{id})
-- ARGV (A.<name>): deliveryId, outcome (delivered|retrying|failed), attempts, retryInMs, entry (JSON log line), logMax
-- Returns: 1 recorded, 0 the delivery was gone already (nothing written).
local body = redis.call('HGET', K.deliveries, A.deliveryId)
if not body then return 0 end
if A.outcome == 'retrying' then
  local delivery = cjson.decode(body)
  delivery.attempts = tonumber(A.attempts)
  redis.call('HSET', K.deliveries, A.deliveryId, cjson.encode(delivery))
  local now = redis.call('TIME')
  redis.call('ZADD', K.due, tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(A.retryInMs), A.deliveryId)
else
  redis.call('HDEL', K.deliveries, A.deliveryId)
  redis.call('ZREM', K.due, A.deliveryId)
end
redis.call('LPUSH', K.log, A.entry)
redis.call('LTRIM', K.log, 0, tonumber(A.logMax) - 1)
return 1
