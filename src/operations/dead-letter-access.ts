import type { Redis } from 'ioredis';
import type { Config } from '../../lib/config.js';
import { DanError, ExitCode, QueueFullError } from '../../lib/errors.js';
import { DEFAULT_CLIENT_ID } from '../../lib/protocol/client-id.js';
import type { DeadLetter } from '../../lib/redis/dead-letters.js';
import { checkTask, DeadLetters, matchRef } from '../../lib/redis/dead-letters.js';
import type { Keys } from '../../lib/redis/keys.js';
import { readResults } from '../../lib/redis/task-index.js';
import { queueDepth } from '../../lib/redis/queue-counts.js';
import { knownDomains } from './known-domains.js';

/**
 * Dead letters as one client may see and retry them over the HTTP API, on the store `dan dead-letter`
 * uses. An entry is a client's when the task it carries is: its result names the client (`default` for
 * a task sent without one). An entry without a task id, or whose result has expired, is nobody's:
 * only `everything` (an admin) sees it.
 */
export async function visibleDeadLetters(
  redis: Redis, keys: Keys, who: { client: string; everything: boolean }, domain?: string,
): Promise<DeadLetter[]> {
  const entries = await new DeadLetters(redis, keys).read(domain);
  if (who.everything) return entries;
  const results = await readResults(redis, keys, entries.map((e) => e.taskId ?? ''));
  return entries.filter((e, i) => {
    const result = e.taskId === undefined ? undefined : results[i];
    return result !== undefined && (result.clientId ?? DEFAULT_CLIENT_ID) === who.client;
  });
}

/** The one entry `ref` names among `entries`: not_found, or ambiguous naming the refs to use. */
export function oneDeadLetter(entries: DeadLetter[], ref: string): DeadLetter {
  const found = matchRef(entries, ref);
  if (found.length === 1) return found[0] as DeadLetter;
  if (found.length === 0) throw new DanError('not_found', `no dead letter '${ref}': name an entry's ref or the task id it carries, as GET /dead-letters lists them`, { exitCode: ExitCode.usage });
  throw new DanError('ambiguous', `'${ref}' names ${found.length} dead letters (${found.map((e) => e.ref).join(', ')}): name one of those`, { exitCode: ExitCode.usage });
}

/**
 * Queues a dead letter's input again (on its domain, or `to`) and removes the entry, as `dan dead-letter
 * retry` does: refused when its input cannot be a task (not_retryable), the domain is not served
 * (unknown_domain) or its queue is full (queue_full); not_found when someone retried or purged it meanwhile.
 */
export async function retryDeadLetter(
  redis: Redis, keys: Keys, config: Config, entry: DeadLetter, options: { to?: string; by: string },
): Promise<{ to: string; taskId: string | undefined }> {
  const check = checkTask(entry.raw);
  if (!check.ok) throw new DanError('not_retryable', `dead letter ${entry.ref} cannot be queued again: ${check.why}; send a corrected task instead`, { exitCode: ExitCode.usage });
  const to = options.to ?? entry.domain;
  if (to !== 'main') {
    const known = await knownDomains(redis, keys, config);
    if (!known.includes(to)) {
      throw new DanError('unknown_domain', `dead letter ${entry.ref} was sent to '${to}', a domain nobody serves; known domains: main, ${known.join(', ')}; name another with "to"`, { exitCode: ExitCode.usage });
    }
  }
  const max = config.maxQueueDepth;
  if (max > 0) {
    const depth = await queueDepth(redis, keys, to);
    if (depth >= max) throw new QueueFullError(to, depth, max);
  }
  const outcome = await new DeadLetters(redis, keys).retry(entry, to, options.by);
  if (outcome === 'gone') throw new DanError('not_found', `dead letter ${entry.ref} is gone: someone retried or purged it meanwhile`, { exitCode: ExitCode.usage });
  if (outcome === 'not_a_task') throw new DanError('not_retryable', `dead letter ${entry.ref} cannot be queued again: its input is not a JSON object`, { exitCode: ExitCode.usage });
  return { to, taskId: check.taskId };
}
