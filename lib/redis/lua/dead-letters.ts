/**
 * retry_dead_letter: moves one dead-lettered input back onto a pending queue and removes its entry, in
 * one step. The entry is matched by its exact bytes, so of two people retrying the same entry at once
 * exactly one moves it and the other is told it is gone: no input is lost and none is queued twice.
 *
 * KEYS: 1 tasks:dead:{from}  2 tasks:pending:{to}  3 dan:logs
 * ARGV: 1 the entry, exactly as in the list  2 task id ('' when the input has none)
 *       3 result key prefix  4 target domain  5 notifications channel of the target
 *       6 log line for the task ('' for none)  7 who retries (the log's agent field)
 * Returns: 1 moved; 0 the entry is no longer in the list; -1 its input is not a JSON object (nothing
 * changes: a consumer would only dead-letter it again).
 *
 * The raw input is taken from the entry here, not from the caller: an envelope's `raw`, or the whole
 * item when a client wrote something that is not an envelope. cjson keeps the bytes as they were.
 */
export const RETRY_DEAD_LETTER_LUA = `
local entry = ARGV[1]
local raw = entry
local ok, envelope = pcall(cjson.decode, entry)
if ok and type(envelope) == 'table' and type(envelope.raw) == 'string' then raw = envelope.raw end
local is_object = false
if string.find(raw, '^%s*{') then
  local parsed, task = pcall(cjson.decode, raw)
  is_object = parsed and type(task) == 'table'
end
if not is_object then return -1 end
if redis.call('LREM', KEYS[1], 1, entry) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], raw)
local id = ARGV[2]
if id ~= '' then
  local rkey = ARGV[3] .. id
  -- The failure the dead-lettering wrote no longer holds; the task is waiting again, kept until it ends.
  redis.call('HDEL', rkey, 'output', 'error', 'completed_at', 'started_at')
  redis.call('HSET', rkey, 'task_id', id, 'status', 'pending', 'domain', ARGV[4])
  redis.call('PERSIST', rkey)
  redis.call('PERSIST', rkey .. ':logs')
  if ARGV[6] ~= '' then
    redis.call('RPUSH', rkey .. ':logs', ARGV[6])
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', 20000, '*', 'task', id, 'agent', ARGV[7], 'domain', ARGV[4], 'line', ARGV[6])
  end
end
redis.call('PUBLISH', ARGV[5], raw)
return 1
`;
