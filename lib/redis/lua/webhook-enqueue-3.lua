-- webhook-enqueue: one task event becomes one delivery per webhook that wants it (its `events` list names
-- the event, and its `client`, when set, is the task's client). A delivery's id is the event's stream id
-- and the webhook's id, so reading the same event twice (a crash before its acknowledgement) queues
-- nothing twice.
--
-- KEYS (K.<name>): webhooks (dan:webhooks), deliveries (dan:webhooks:deliveries), due (dan:webhooks:due)
-- ARGV (A.<name>): eventId (stream id), event (task.completed|task.failed|task.awaiting_approval), client
--   (the task's client), body (JSON text sent as is)
-- Returns: how many deliveries were queued.
-- The clock is read only for a delivery: with no webhook that wants the event, this is one HGETALL.
local now_ms
local all = redis.call('HGETALL', K.webhooks)
local queued = 0
for i = 1, #all, 2 do
  local id, ok, hook = all[i], pcall(cjson.decode, all[i + 1])
  if ok and type(hook) == 'table' then
    local wanted = false
    for _, name in ipairs(type(hook.events) == 'table' and hook.events or {}) do
      if name == A.event then wanted = true end
    end
    local client_ok = type(hook.client) ~= 'string' or hook.client == A.client
    if wanted and client_ok then
      local delivery = A.eventId .. ':' .. id
      if redis.call('HSETNX', K.deliveries, delivery, cjson.encode({ webhook = id, event = A.event, body = A.body, attempts = 0 })) == 1 then
        if not now_ms then
          local now = redis.call('TIME')
          now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
        end
        redis.call('ZADD', K.due, now_ms, delivery)
        queued = queued + 1
      end
    end
  end
end
return queued
