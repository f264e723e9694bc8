import { Queue, Worker } from 'bullmq';

/**
 * The reference: BullMQ on the same Redis, one worker with the same concurrency, processing no-op
 * jobs added in bulk (chunks of 500, as our side submits). Times from the first add to the last
 * `completed`, the worker already connected and waiting, as our domain is. Removes its keys after.
 * `cpuMs` reads Redis' CPU time: what it spent over the same span, per job, is `redisUs`.
 */
export async function bullmqJobsPerSecond(redisUrl: string, jobs: number, concurrency: number, name: string, cpuMs: () => Promise<number>): Promise<{ rate: number; redisUs: number }> {
  const url = new URL(redisUrl);
  const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
  const prefix = 'bench-bull';
  const queue = new Queue(name, { connection, prefix });
  let completed = 0;
  let allDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const worker = new Worker(name, async () => undefined, { connection, prefix, concurrency });
  worker.on('completed', () => {
    completed += 1;
    if (completed === jobs) allDone();
  });
  try {
    await worker.waitUntilReady();
    await queue.waitUntilReady();
    const cpuBefore = await cpuMs();
    const started = performance.now();
    for (let start = 0; start < jobs; start += 500) {
      await queue.addBulk(Array.from({ length: Math.min(500, jobs - start) }, (_, i) => ({ name: 'noop', data: { i: start + i } })));
    }
    await done;
    const rate = jobs / ((performance.now() - started) / 1000);
    return { rate, redisUs: ((await cpuMs()) - cpuBefore) * 1000 / jobs };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}
