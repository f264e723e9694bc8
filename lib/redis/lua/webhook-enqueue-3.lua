-- webhook-enqueue: task events become one delivery per webhook that wants each (its `events` list names
-- the event, and its `client`, when set, is the task's client). A delivery's id is the event's stream id
-- and the webhook's id, so reading the same event twice (a crash before its acknowledgement) queues
-- nothing twice. A batch of events is one call: with no webhook registered, it costs one HGETALL.
--
-- KEYS (K.<name>): webhooks (dan:webhooks), deliveries (dan:webhooks:deliveries), due (dan:webhooks:due)
-- ARGV: from ARGV[REST], groups of four: eventId (stream id), event (task.completed|task.failed|
--   task.awaiting_approval), client (the task's client), body (JSON text sent as is)
-- Returns: how many deliveries were queued.
local all = redis.call('HGETALL', K.webhooks)
if #all == 0 then return 0 end
local hooks = {}
for i = 1, #all, 2 do
  local ok, hook = pcall(cjson.decode, all[i + 1])
  if ok and type(hook) == 'table' then table.insert(hooks, { id = all[i], hook = hook }) end
end
-- The clock is read only for a delivery.
local now_ms
local queued = 0
for e = REST, #ARGV, 4 do
  local event_id, event, client, body = ARGV[e], ARGV[e + 1], ARGV[e + 2], ARGV[e + 3]
  for _, h in ipairs(hooks) do
    local hook = h.hook
    local wanted = false
    for _, name in ipairs(type(hook.events) == 'table' and hook.events or {}) do
      if name == event then wanted = true end
    end
    local client_ok = type(hook.client) ~= 'string' or hook.client == client
    if wanted and client_ok then
      local delivery = event_id .. ':' .. h.id
      if redis.call('HSETNX', K.deliveries, delivery, cjson.encode({ webhook = h.id, event = event, body = body, attempts = 0 })) == 1 then
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
