-- farm-edit-lock: before (or after) an agent writes a file, takes its lock if nobody holds it, keeps it
-- if the agent does, refuses if another agent does. Every outcome is an event.
--
-- KEYS: lock (the file's lock), agentLocks (the files this agent holds), events (the farm's stream).
-- ARGV: agent, file, lockMs, phase ('before' | 'after').
-- Returns: {1, ''} allowed, {0, owner} refused.
local agent, file, lockMs, phase = A.agent, A.file, tonumber(A.lockMs), A.phase
local owner = redis.call('GET', K.lock)
if owner and owner ~= agent then
  redis.call('XADD', K.events, 'MAXLEN', '~', 10000, '*', 'type', 'denied', 'agent', agent, 'file', file, 'owner', owner)
  return {0, owner}
end
if not owner then
  redis.call('SET', K.lock, agent, 'PX', lockMs)
  redis.call('SADD', K.agentLocks, file)
  redis.call('XADD', K.events, 'MAXLEN', '~', 10000, '*', 'type', 'lock', 'agent', agent, 'file', file)
else
  redis.call('PEXPIRE', K.lock, lockMs)
end
redis.call('XADD', K.events, 'MAXLEN', '~', 10000, '*', 'type', phase == 'after' and 'edited' or 'edit', 'agent', agent, 'file', file)
return {1, ''}
