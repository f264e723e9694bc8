-- webhook-claim: takes up to `max` deliveries that are due (by Redis' clock) for one attempt each: each is
-- pushed `leaseMs` into the future, so a delivery loop that dies mid-attempt has it tried again later
-- instead of lost, and two loops never try it at once.
--
-- Deliveries of a webhook named in `busy` (it has attempts in flight) stay where they are, and at most
-- `perHook` of one webhook are taken: a slow receiver waits on itself, not on the others.
--
-- KEYS (K.<name>): due (dan:webhooks:due), deliveries (dan:webhooks:deliveries)
-- ARGV (A.<name>): max, leaseMs, busy (',wh-1,wh-2,', or ','), perHook
-- Returns: {delivery id, delivery JSON, ...}; a due id with no delivery left is dropped.
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local max = tonumber(A.max)
-- Looks past busy webhooks' deliveries, up to 8 times what it may take.
local ids = redis.call('ZRANGEBYSCORE', K.due, '-inf', now_ms, 'LIMIT', 0, max * 8)
local out = {}
local taken = {}
for _, id in ipairs(ids) do
  if #out >= max * 2 then break end
  local body = redis.call('HGET', K.deliveries, id)
  local hook = string.match(id, ':([^:]+)$') or ''
  if body and (string.find(A.busy, ',' .. hook .. ',', 1, true) or (taken[hook] or 0) >= tonumber(A.perHook)) then
    -- left for a later claim
  elseif body then
    taken[hook] = (taken[hook] or 0) + 1
    redis.call('ZADD', K.due, now_ms + tonumber(A.leaseMs), id)
    table.insert(out, id)
    table.insert(out, body)
  else
    redis.call('ZREM', K.due, id)
  end
end
return out
