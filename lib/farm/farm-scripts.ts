import { LuaScript } from '../redis/lua-script.js';

/**
 * The farm's multi-key state changes, each one script so that a lock, its owner and the event
 * that records it can never disagree. Events go to the farm's events stream with the Redis time
 * implied by their stream id, which is what the tests order lock and edit events by.
 */

/**
 * Claim a chunk for an agent: first hand back chunks whose lease lapsed, then take the first
 * queued chunk none of whose files another agent has locked and that this agent did not hand back
 * itself, lock all its files, lease it.
 * KEYS: queue, leases, events, agentLocks
 * ARGV: chunkPrefix, lockPrefix, agent, nowMs, leaseMs, lockMs
 * Returns: the chunk id, or {0, blocked, excluded}: queued chunks skipped for locks, and for having been handed back by this agent.
 */
export const claimChunkScript = new LuaScript('farm-claim', `
local queue, leases, events, agentLocks = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local chunkPrefix, lockPrefix, agent = ARGV[1], ARGV[2], ARGV[3]
local now, leaseMs, lockMs = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now)) do
  redis.call('ZREM', leases, id)
  redis.call('HSET', chunkPrefix .. id, 'status', 'queued')
  redis.call('RPUSH', queue, id)
  redis.call('XADD', events, 'MAXLEN', '~', 10000, '*', 'type', 'lease_lapsed', 'chunk', id)
end
local blocked, excluded = 0, 0
for _, id in ipairs(redis.call('LRANGE', queue, 0, -1)) do
  local files = cjson.decode(redis.call('HGET', chunkPrefix .. id, 'files') or '[]')
  local free = true
  if redis.call('HEXISTS', chunkPrefix .. id, 'gave_back:' .. agent) == 1 then free = false excluded = excluded + 1 end
  for _, file in ipairs(files) do
    local owner = redis.call('GET', lockPrefix .. file)
    if owner and owner ~= agent then free = false break end
  end
  if free then
    for _, file in ipairs(files) do
      redis.call('SET', lockPrefix .. file, agent, 'PX', lockMs)
      redis.call('SADD', agentLocks, file)
      redis.call('XADD', events, 'MAXLEN', '~', 10000, '*', 'type', 'lock', 'agent', agent, 'file', file, 'chunk', id)
    end
    redis.call('LREM', queue, 1, id)
    redis.call('ZADD', leases, now + leaseMs, id)
    redis.call('HSET', chunkPrefix .. id, 'status', 'claimed', 'agent', agent)
    redis.call('HINCRBY', chunkPrefix .. id, 'claims', 1)
    return id
  end
  if free == false and redis.call('HEXISTS', chunkPrefix .. id, 'gave_back:' .. agent) == 0 then blocked = blocked + 1 end
end
return {0, blocked, excluded}
`);

/**
 * Before (or after) an agent writes a file: take its lock if nobody holds it, keep it if the agent
 * does, refuse if another agent does. Every outcome is an event.
 * KEYS: lock, agentLocks, events
 * ARGV: agent, file, lockMs, phase ('before' | 'after')
 * Returns: {1, ''} allowed, {0, owner} refused.
 */
export const editLockScript = new LuaScript('farm-edit-lock', `
local lock, agentLocks, events = KEYS[1], KEYS[2], KEYS[3]
local agent, file, lockMs, phase = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local owner = redis.call('GET', lock)
if owner and owner ~= agent then
  redis.call('XADD', events, 'MAXLEN', '~', 10000, '*', 'type', 'denied', 'agent', agent, 'file', file, 'owner', owner)
  return {0, owner}
end
if not owner then
  redis.call('SET', lock, agent, 'PX', lockMs)
  redis.call('SADD', agentLocks, file)
  redis.call('XADD', events, 'MAXLEN', '~', 10000, '*', 'type', 'lock', 'agent', agent, 'file', file)
else
  redis.call('PEXPIRE', lock, lockMs)
end
redis.call('XADD', events, 'MAXLEN', '~', 10000, '*', 'type', phase == 'after' and 'edited' or 'edit', 'agent', agent, 'file', file)
return {1, ''}
`);

/**
 * Release every lock an agent holds (only those it still owns), recording each release.
 * KEYS: agentLocks, events
 * ARGV: lockPrefix, agent
 * Returns: the number of locks released.
 */
export const releaseLocksScript = new LuaScript('farm-release', `
local agentLocks, events = KEYS[1], KEYS[2]
local lockPrefix, agent = ARGV[1], ARGV[2]
local released = 0
for _, file in ipairs(redis.call('SMEMBERS', agentLocks)) do
  if redis.call('GET', lockPrefix .. file) == agent then
    redis.call('DEL', lockPrefix .. file)
    redis.call('XADD', events, 'MAXLEN', '~', 10000, '*', 'type', 'unlock', 'agent', agent, 'file', file)
    released = released + 1
  end
end
redis.call('DEL', agentLocks)
return released
`);

/**
 * Keep an agent's locks and its chunk's lease alive; a lock another agent took meanwhile (after a
 * lapse) is dropped from the agent's set.
 * KEYS: agentLocks, leases
 * ARGV: lockPrefix, agent, lockMs, chunkId ('' for none), leaseExpiryMs
 * Returns: the number of locks still held.
 */
export const renewScript = new LuaScript('farm-renew', `
local agentLocks, leases = KEYS[1], KEYS[2]
local lockPrefix, agent, lockMs, chunk, expiry = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local held = 0
for _, file in ipairs(redis.call('SMEMBERS', agentLocks)) do
  if redis.call('GET', lockPrefix .. file) == agent then
    redis.call('PEXPIRE', lockPrefix .. file, lockMs)
    held = held + 1
  else
    redis.call('SREM', agentLocks, file)
  end
end
if chunk ~= '' then redis.call('ZADD', leases, 'XX', expiry, chunk) end
return held
`);
