import { sleep } from '../../lib/clock.js';
import { isTerminal } from '../../lib/protocol/result.js';
import type { Priority } from '../../lib/protocol/task.js';
import type { Redis } from '../../lib/redis/connection.js';
import { connectRedis } from '../../lib/redis/connection.js';
import { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';
import { decideApproval, listAwaitingApproval } from '../../lib/redis/approvals.js';
import type { SpawnedAgent } from '../../lib/spawner/spawner.js';
import type { ChaosOptions } from './chaos-options.js';
import type { ChaosRunReport, KillRecord } from './chaos-report.js';
import { buildRunReport } from './chaos-report.js';
import type { DeadLetterMatch } from './chaos-checks.js';
import { CHAOS_DOMAINS, countEndings, failureReasons, firstClaimAfter, firstCompletionAfter, leftInQueues, matchDeadLetters, readTaskEndings } from './chaos-checks.js';
import type { SpawnerKind } from './chaos-network.js';
import { ChaosNetwork } from './chaos-network.js';
import type { MalformedMessage } from './malformed-messages.js';
import { malformedMessages } from './malformed-messages.js';
import { SeededRandom } from './seeded-random.js';
import { checkApprovals } from './chaos-approvals.js';
import { checkDependencies, DEPENDENT_EVERY, submitDependent } from './chaos-dependencies.js';

const DESCRIPTIONS: Record<string, string[]> = {
  backend: ['Create a health endpoint', 'Add a users table migration', 'Add password hashing to the auth service', 'Create a REST API for orders'],
  frontend: ['Build a signup form component', 'Style the navigation bar with css', 'Make the login page accessible', 'Create a react settings page'],
  devops: ['Write a Dockerfile for the api', 'Add a CI workflow that runs the tests', 'Add a docker compose file for local runs', 'Write infrastructure for a staging environment'],
  main: ['Add user registration: a POST /api/users endpoint and a signup form', 'Add a health endpoint and a CI workflow that checks it', 'Build a settings page with a REST API behind it'],
};

interface PlannedTask {
  domain: string;
  description: string;
  type?: 'echo';
  priority: Priority;
  /** Awaits approval before it runs: parked by the agent that claims it, approved by the run's approver loop. */
  approval?: boolean;
}

/** The valid tasks of a run: about one in twenty to main (they fan out), one in ten echo, one in seven gated by approval, the rest work. */
function planTasks(count: number, random: SeededRandom): PlannedTask[] {
  const mainEvery = 20;
  return Array.from({ length: count }, (_, i): PlannedTask => {
    const domain = i % mainEvery === mainEvery - 1 ? 'main' : random.pick(CHAOS_DOMAINS);
    const priority = random.pick(['low', 'normal', 'normal', 'high'] as const);
    const description = `${random.pick(DESCRIPTIONS[domain] ?? [])} (chaos #${i})`;
    // One in seven domain tasks awaits approval (by position, so the seed's other draws stay as they were).
    const approval = domain !== 'main' && i % 7 === 3;
    return { domain, description, priority, ...(domain !== 'main' && random.next() < 0.1 ? { type: 'echo' as const } : {}), ...(approval ? { approval } : {}) };
  });
}

/**
 * One chaos run with one spawner: sends the tasks and the malformed messages in waves, kills a random
 * domain agent every `killEveryMs` (every other one among those holding tasks), restarts Redis once when a
 * third of the tasks have ended, waits until every task ended (or the deadline), then checks.
 */
export async function runChaos(kind: SpawnerKind, options: ChaosOptions, progress: (line: string) => void): Promise<ChaosRunReport> {
  const random = new SeededRandom(options.seed + (kind === 'docker' ? 1 : kind === 'swarm' ? 2 : 0));
  const started = Date.now();
  const say = (line: string) => progress(`[chaos ${kind} ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);
  const chaos = await ChaosNetwork.start(kind, random, options.modelDelayMs);
  say(`network up: redis ${chaos.redisUrl} (append-only in ${chaos.dataDir}), spawner ${kind}, network id ${chaos.networkId}`);
  const keys = new Keys('');
  const tag = `${kind[0]}${options.seed}`;
  const planned = planTasks(options.tasks, random);
  const malformed = malformedMessages(options.malformed, [...CHAOS_DOMAINS, 'main'], tag, random);
  const submitted: string[] = [];
  const dependents = new Map<string, string[]>();
  const gated: string[] = [];
  const kills: KillRecord[] = [];
  const published = new Map<string, number>();
  let redisDown = false;
  let restart: { stoppedAt: number; answeringAt: number } | undefined;
  let finished = false;
  /** Set once the run's endings are read: the approver loop stops then. */
  let settled = false;
  let ended = 0;
  const connections: Redis[] = [];
  try {
    const redis = await connectRedis(chaos.redisUrl);
    connections.push(redis);
    const subscriber = await connectRedis(chaos.redisUrl, { blocking: true });
    connections.push(subscriber);
    subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
      try {
        if (!isTerminal((JSON.parse(message) as { status?: string }).status)) return;
      } catch {
        return;
      }
      const id = channel.slice(keys.resultPrefix().length);
      published.set(id, (published.get(id) ?? 0) + 1);
    });
    await subscriber.psubscribe(`${keys.resultPrefix()}*`);

    // --- send, in waves, so tasks and garbage arrive while agents start and die ---------------
    const waves = 10;
    const sending = (async () => {
      for (let w = 0; w < waves; w++) {
        const tasks = planned.slice(Math.floor((w * planned.length) / waves), Math.floor(((w + 1) * planned.length) / waves));
        for (const task of tasks) {
          if (task.domain !== 'main' && submitted.length >= 2 && submitted.length % DEPENDENT_EVERY === DEPENDENT_EVERY - 1) {
            const after = submitted.slice(-2);
            const taskId = await submitDependent(redis, keys, { taskId: `dep-${tag}-${submitted.length}`, ...task }, after);
            dependents.set(taskId, after);
            if (task.approval) gated.push(taskId);
            submitted.push(taskId);
            continue;
          }
          const { taskId } = await submitTask(redis, keys, {
            domain: task.domain, description: task.description, priority: task.priority, ...(task.type ? { type: task.type } : {}),
            ...(task.approval ? { extraMetadata: { approval: true } } : {}),
          });
          if (task.approval) gated.push(taskId);
          submitted.push(taskId);
        }
        await pushMalformed(redis, keys, malformed.slice(Math.floor((w * malformed.length) / waves), Math.floor(((w + 1) * malformed.length) / waves)));
        await sleep(300);
      }
      say(`sent ${submitted.length} tasks and ${malformed.length} malformed messages`);
    })();

    // --- kill a random domain agent every few seconds --------------------------------------------
    const killing = (async () => {
      while (!finished) {
        await sleep(options.killEveryMs);
        if (finished || redisDown) continue;
        try {
          const kill = await killOne(chaos, redis, keys, random, kills.length);
          if (kill) {
            kills.push(kill);
            say(`killed ${kill.agentId} (${kill.domain}), which held ${kill.held.length} task(s)`);
          }
        } catch (error) {
          say(`a kill failed: ${(error as Error).message}`);
        }
      }
    })();

    // --- a person approving every task that awaits approval, across the kills and the restart ----
    // It keeps approving while the rest settles: a task parked near the end still runs.
    let approved = 0;
    const approving = (async () => {
      while (!settled) {
        await sleep(500);
        if (redisDown) continue;
        try {
          for (const { taskId } of await listAwaitingApproval(redis, keys)) {
            if ((await decideApproval(redis, keys, taskId, { decision: 'approve', by: 'chaos', retentionMs: 3_600_000 })).kind === 'approved') approved++;
          }
        } catch {
          // Redis is restarting: the next look approves them.
        }
      }
    })();

    // --- watch progress; restart Redis once a third of the tasks have ended --------------------
    await sending;
    const deadline = started + options.deadlineMs;
    let lastSaid = 0;
    while (Date.now() < deadline) {
      try {
        ended = await countEnded(redis, keys, submitted);
      } catch {
        await sleep(500);
        continue;
      }
      if (ended === submitted.length) break;
      if (!restart && ended >= submitted.length / 3) {
        redisDown = true;
        say(`restarting Redis (${ended}/${submitted.length} tasks ended)`);
        restart = await chaos.restartRedis();
        redisDown = false;
        say(`Redis answers again after ${restart.answeringAt - restart.stoppedAt} ms down`);
      }
      if (Date.now() - lastSaid > 10_000) {
        lastSaid = Date.now();
        say(`${ended}/${submitted.length} tasks ended, ${kills.length} kills so far`);
      }
      await sleep(500);
    }
    finished = true;
    await killing;
    say(ended === submitted.length ? `all ${ended} tasks ended` : `deadline: ${ended}/${submitted.length} tasks ended`);

    // --- let the rest settle: children of failed parents, dead letters of the last pushes --------
    const exclude = new Set(malformed.flatMap((m) => (m.recoverableId ? [m.recoverableId] : [])));
    // 20 s: the last pushes were long before the last task ended, so consumers have sorted them.
    const settleUntil = Date.now() + 20_000;
    let deadLetters: DeadLetterMatch;
    for (;;) {
      const endings = await readTaskEndings(redis, keys, exclude);
      const open = endings.taskIds.filter((id) => !isTerminal(endings.status.get(id))).length;
      deadLetters = await matchDeadLetters(redis, keys, malformed);
      if ((open === 0 && deadLetters.missing.length === 0) || Date.now() > settleUntil) break;
      await sleep(1_000);
    }
    settled = true;
    await approving;
    say(`approved ${approved} of the ${planned.filter((t) => t.approval).length} tasks that awaited approval`);
    // One more beat, so an agent that would end something twice has the time to do it.
    await sleep(2_000);
    const endings = await readTaskEndings(redis, keys, exclude);
    const counts = countEndings(endings, submitted, published);
    const left = await leftInQueues(redis, keys);
    deadLetters = await matchDeadLetters(redis, keys, malformed);

    const recoveries: number[] = [];
    let notRerun = 0;
    for (const kill of kills) {
      kill.rerunMs = [];
      for (const taskId of kill.held) {
        const claimedAt = await firstClaimAfter(redis, keys, taskId, kill.at);
        kill.rerunMs.push(claimedAt === undefined ? null : claimedAt - kill.at);
        if (claimedAt !== undefined) recoveries.push(claimedAt - kill.at);
        else notRerun += 1;
      }
    }
    const dependencies = await checkDependencies(redis, keys, dependents);
    const approvals = await checkApprovals(redis, keys, gated, approved);
    const resumeAt = restart ? await firstCompletionAfter(redis, keys, restart.answeringAt) : undefined;

    say('stopping the network');
    await chaos.stopNetwork();
    const leaked = await chaos.leaked();
    return buildRunReport({
      spawner: kind,
      durationMs: Date.now() - started,
      submitted: submitted.length,
      mainTasks: planned.filter((t) => t.domain === 'main').length,
      allTasks: new Set([...endings.taskIds, ...submitted]).size,
      counts,
      failureReasons: failureReasons(endings.errors),
      left,
      malformed: malformed.length,
      deadLetters,
      kills,
      recoveries,
      notRerun,
      redisRestart: restart ? { downMs: restart.answeringAt - restart.stoppedAt, resumeMs: resumeAt === undefined ? undefined : Math.max(0, resumeAt - restart.answeringAt) } : undefined,
      leaked,
      dependencies,
      approvals,
    });
  } finally {
    finished = true;
    settled = true;
    for (const connection of connections) connection.disconnect();
    await chaos.stopNetwork().catch(() => undefined);
    await chaos.close();
  }
}

async function pushMalformed(redis: Redis, keys: Keys, messages: readonly MalformedMessage[]): Promise<void> {
  if (messages.length === 0) return;
  const pipeline = redis.pipeline();
  for (const message of messages) pipeline.lpush(keys.pending(message.domain), message.raw);
  await pipeline.exec();
}

async function countEnded(redis: Redis, keys: Keys, ids: readonly string[]): Promise<number> {
  let ended = 0;
  for (let i = 0; i < ids.length; i += 500) {
    const pipeline = redis.pipeline();
    for (const id of ids.slice(i, i + 500)) pipeline.hget(keys.result(id), 'status');
    for (const [error, status] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      if (isTerminal(status as string | undefined)) ended += 1;
    }
  }
  return ended;
}

/**
 * Picks a running domain agent at random, notes the tasks it holds (its leases, by the owner in
 * `dan:task:{id}`), and SIGKILLs it.
 */
async function killOne(chaos: ChaosNetwork, redis: Redis, keys: Keys, random: SeededRandom, nth: number): Promise<KillRecord | undefined> {
  const agents = chaos.network.spawner.list().filter((a) => (CHAOS_DOMAINS as readonly string[]).includes(a.domain));
  if (agents.length === 0) return undefined;
  const holdings = new Map<string, string[]>();
  for (const domain of CHAOS_DOMAINS) {
    const ids = await redis.zrange(keys.leases(domain), 0, -1);
    if (ids.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hget(keys.task(id), 'owner');
    const owners = (await pipeline.exec()) ?? [];
    ids.forEach((id, i) => {
      const owner = String(owners[i]?.[1] ?? '');
      holdings.set(owner, [...(holdings.get(owner) ?? []), id]);
    });
  }
  // Every other kill goes to an agent that holds tasks (when one does), so every run measures how fast
  // a dead agent's work runs again; the others hit any agent, busy, idle or still starting.
  const busy = agents.filter((a) => (holdings.get(a.agentId)?.length ?? 0) > 0);
  const victim: SpawnedAgent = random.pick(nth % 2 === 0 && busy.length > 0 ? busy : agents);
  await chaos.kill(victim);
  return { agentId: victim.agentId, domain: victim.domain, at: Date.now(), held: holdings.get(victim.agentId) ?? [] };
}
