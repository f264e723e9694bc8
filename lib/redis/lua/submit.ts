/**
 * submit: queues a task the way protocol.md tells outside clients to, in one step: the result hash is
 * written before the push, so a fast consumer's `in_progress` is never overwritten by `pending`; a
 * sub-task is added to its parent's list of children (for cancellation); the task is announced.
 *
 * KEYS: 1 results:{id}  2 tasks:pending:{d}  3 notifications:{d}  4 dan:children:{parent} (or any key)
 * ARGV: 1 task id  2 raw task JSON  3 domain  4 parent id ('' for none)  5 children expiry ms
 */
export const SUBMIT_LUA = `
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'task_id', ARGV[1], 'status', 'pending', 'domain', ARGV[3], 'parent_id', ARGV[4])
  redis.call('SADD', KEYS[4], ARGV[1])
  redis.call('PEXPIRE', KEYS[4], ARGV[5])
else
  redis.call('HSET', KEYS[1], 'task_id', ARGV[1], 'status', 'pending', 'domain', ARGV[3])
end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('PUBLISH', KEYS[3], ARGV[2])
return 1
`;
