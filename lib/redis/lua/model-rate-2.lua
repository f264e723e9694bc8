-- model-rate: admits one model call under the network's shared limit of its model, or says how long to wait.
--
-- KEYS (K.<name>): window (dan:model-rate:{model}, ZSET `{id}|{input}|{output}` -> admitted at, ms),
--                  pauses (dan:model-pauses, HASH model -> paused until, ms)
-- ARGV (A.<name>): model, id (unique per call), rpm, inputTpm, outputTpm (limits per window; 0: none),
--                  input, output (the call's estimated input tokens and its max_tokens), windowMs
-- Times are Redis's own (TIME), so every gateway and main's router count on one clock. A call whose
-- own tokens pass a token limit is admitted alone in an empty window: it could never go otherwise.
-- Returns: {1, 0, ''} admitted (the entry is kept until the window passes it); {1, 0, 'unlimited'}
--          admitted with nothing kept, the model having no limits;
--          {0, waitMs, reason} refused, reason `paused`, `requests`, `input_tokens` or `output_tokens`.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(A.windowMs)

local paused = tonumber(redis.call('HGET', K.pauses, A.model) or '0') or 0
if paused > now then return { 0, paused - now, 'paused' } end

local rpm, inputTpm, outputTpm = tonumber(A.rpm), tonumber(A.inputTpm), tonumber(A.outputTpm)
if rpm == 0 and inputTpm == 0 and outputTpm == 0 then return { 1, 0, 'unlimited' } end

redis.call('ZREMRANGEBYSCORE', K.window, '-inf', now - window)
local entries = redis.call('ZRANGE', K.window, 0, -1, 'WITHSCORES')
local count = #entries / 2
local input, output = tonumber(A.input), tonumber(A.output)
local sumIn, sumOut = 0, 0
local ins, outs, ats = {}, {}, {}
for i = 1, #entries, 2 do
  local _, _, a, b = string.find(entries[i], '|(%d+)|(%d+)$')
  local n = (i + 1) / 2
  ins[n], outs[n], ats[n] = tonumber(a) or 0, tonumber(b) or 0, tonumber(entries[i + 1])
  sumIn, sumOut = sumIn + ins[n], sumOut + outs[n]
end

-- How long until enough of the oldest entries leave the window for `need` more of what `used` counts.
local function waitFor(used, limit, need, kind)
  local left = used + need - limit
  for n = 1, count do
    left = left - kind[n]
    if left <= 0 then return ats[n] + window - now end
  end
  return ats[count] + window - now
end

if rpm > 0 and count + 1 > rpm then
  return { 0, math.max(1, ats[count + 1 - rpm] + window - now), 'requests' }
end
if inputTpm > 0 and count > 0 and sumIn + input > inputTpm then
  return { 0, math.max(1, waitFor(sumIn, inputTpm, input, ins)), 'input_tokens' }
end
if outputTpm > 0 and count > 0 and sumOut + output > outputTpm then
  return { 0, math.max(1, waitFor(sumOut, outputTpm, output, outs)), 'output_tokens' }
end
redis.call('ZADD', K.window, now, A.id .. '|' .. input .. '|' .. output)
redis.call('PEXPIRE', K.window, window * 2)
return { 1, 0, '' }
