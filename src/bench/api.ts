import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { sleep } from '../../lib/clock.js';
import { ApiKeys } from '../../lib/redis/api-keys.js';
import { Keys } from '../../lib/redis/keys.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { Spread } from './bench-kit.js';
import { cpuMs, round, rssMb, spread } from './bench-kit.js';
import type { BenchEnv } from './bench-network.js';
import { startDanServe } from './start-dan-serve.js';
import { CONCURRENCY } from './throughput.js';

export interface ApiResult {
  jobs: number;
  concurrency: number;
  /** `submitTask` from this process, `concurrency` calls in flight. */
  direct_submits_per_s: number;
  /** POST /jobs to a `dan serve` child with a key, `concurrency` requests in flight. */
  http_submits_per_s: number;
  http_vs_direct: number;
  /**
   * The same client, body and concurrency against a `node:http` child that reads each POST and answers
   * 202 at once, touching nothing: the most any HTTP server in its own process reaches on this machine,
   * so the goal can be read against what is possible here. `ceiling_vs_direct` is that rate over the direct one.
   */
  ceiling_submits_per_s: number;
  ceiling_vs_direct: number;
  /**
   * CPU time `dan serve` spent per POST /jobs and per GET /jobs/{id} at the most it answers (µs, from
   * /proc): steadier than the rates on a shared machine, where the client, Redis and other work take turns.
   */
  serve_cpu_us: { post: number; get: number };
  /** GET /jobs/{id} with `concurrency` requests in flight. */
  get_max_per_s: number;
  /** GET /jobs/{id} sent on a fixed schedule at half the maximum rate, each timed from its send to its answer (ms). */
  get_at_half: Spread & { rate_per_s: number };
  /** Resident memory of `dan serve` once /health answers, before any job (MB), and after the load above. */
  idle_rss_mb: number;
  after_load_rss_mb: number;
}

/** How the bench starts `dan serve`: on `prefix` of the bench's Redis, in its workspace, taking up to `maxQueueDepth` tasks a queue. */
export function serveOptions(env: BenchEnv, prefix: string, maxQueueDepth: number): Parameters<typeof startDanServe>[0] {
  return {
    cwd: env.workspace,
    env: { ...process.env, REDIS_URL: env.redisUrl, DAN_KEY_PREFIX: prefix, DAN_MAX_QUEUE_DEPTH: String(maxQueueDepth), DAN_LOG_LEVEL: 'warn' },
  };
}

/** A `node:http` server in a child process that answers every request 202 with a fixed id, reading its body first. */
async function startNullServer(): Promise<{ url: string; child: ChildProcess }> {
  const code = "const s=require('node:http').createServer((q,r)=>{q.resume();q.on('end',()=>{r.writeHead(202,{'content-type':'application/json'});r.end('{\"id\":\"x\"}')})});s.listen(0,'127.0.0.1',()=>console.log(s.address().port))";
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once('exit', (exitCode) => reject(new Error(`bench: the null HTTP server exited ${exitCode}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** One request over the keep-alive `agent`; resolves with its status and body. */
function request(agent: http.Agent, url: URL, method: 'GET' | 'POST', headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs `count` calls of `call`, `concurrency` in flight; calls per second. */
async function closedLoop(count: number, concurrency: number, call: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await call(next++);
  }));
  return count / ((performance.now() - started) / 1000);
}

/**
 * The HTTP API's goals: submits over HTTP against `submitTask` straight to Redis at the same concurrency,
 * GET /jobs/{id} latency at half its maximum rate, and an idle `dan serve`'s memory. No agent runs:
 * the jobs only queue, under key prefixes of this scenario's own, deleted afterwards.
 */
export async function measureApi(env: BenchEnv, jobs: number, getSeconds: number): Promise<ApiResult> {
  const base = `bench-api-${process.pid}:`;
  const direct = new Keys(`${base}direct:`);
  const viaHttp = new Keys(`${base}http:`);
  const { key } = await new ApiKeys(env.redis, viaHttp).create('bench', 'submit');
  const serve = await startDanServe(serveOptions(env, `${base}http:`, jobs * 4));
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    // Idle: started and answering, nothing asked of it yet.
    await sleep(500);
    const idleRss = rssMb(serve.child.pid ?? 0);
    const auth = { authorization: `Bearer ${key}` };
    const jobsUrl = new URL('/jobs', serve.url);
    const body = JSON.stringify({ job_type: 'echo', payload: { bench: true } });
    const ids: string[] = [];
    const post = async () => {
      const answer = await request(agent, jobsUrl, 'POST', auth, body);
      if (answer.status !== 202) throw new Error(`bench: POST /jobs answered ${answer.status}: ${answer.body}`);
      ids.push((JSON.parse(answer.body) as { id: string }).id);
    };
    const submit = async () => { await submitTask(env.redis, direct, { domain: 'main', description: 'echo', type: 'echo', source: 'api', extraPayload: { bench: true } }); };
    // Warm both paths (JIT, connections), then alternate, so neither runs on a quieter machine.
    await closedLoop(Math.min(200, jobs), CONCURRENCY, post);
    await closedLoop(Math.min(200, jobs), CONCURRENCY, submit);
    env.progress(`api: ${jobs} submits straight to Redis, then ${jobs} over HTTP, ${CONCURRENCY} in flight`);
    const pid = serve.child.pid ?? 0;
    const directRate = await closedLoop(jobs, CONCURRENCY, submit);
    const beforePosts = cpuMs(pid);
    const httpRate = await closedLoop(jobs, CONCURRENCY, post);
    const postCpuUs = ((cpuMs(pid) - beforePosts) * 1000) / jobs;
    // The ceiling: the same client against a server that does nothing, then direct again beside it.
    const nothing = await startNullServer();
    const ceilingAgent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    let ceilingRate: number;
    let directAgain: number;
    try {
      const nullUrl = new URL('/jobs', nothing.url);
      const postNothing = async () => {
        const answer = await request(ceilingAgent, nullUrl, 'POST', auth, body);
        if (answer.status !== 202) throw new Error(`bench: the null server answered ${answer.status}`);
      };
      await closedLoop(Math.min(200, jobs), CONCURRENCY, postNothing);
      ceilingRate = await closedLoop(jobs, CONCURRENCY, postNothing);
      directAgain = await closedLoop(jobs, CONCURRENCY, submit);
    } finally {
      ceilingAgent.destroy();
      nothing.child.kill('SIGTERM');
    }

    const get = async (i: number) => {
      const answer = await request(agent, new URL(`/jobs/${ids[i % ids.length] as string}`, serve.url), 'GET', auth);
      if (answer.status !== 200) throw new Error(`bench: GET /jobs/{id} answered ${answer.status}: ${answer.body}`);
    };
    const beforeGets = cpuMs(pid);
    const getMax = await closedLoop(jobs, CONCURRENCY, get);
    const getCpuUs = ((cpuMs(pid) - beforeGets) * 1000) / jobs;
    const rate = getMax / 2;
    env.progress(`api: GET /jobs/{id} at ${round(rate, 0)}/s (half of ${round(getMax, 0)}/s) for ${getSeconds} s`);
    const count = Math.max(50, Math.round(rate * getSeconds));
    const latencies: Promise<number>[] = [];
    const start = performance.now();
    for (let i = 0; i < count;) {
      while (i < count && start + (i * 1000) / rate <= performance.now()) {
        const sent = performance.now();
        latencies.push(get(i).then(() => performance.now() - sent));
        i += 1;
      }
      if (i < count) await sleep(Math.max(0, start + (i * 1000) / rate - performance.now()));
    }
    const timed = await Promise.all(latencies);
    return {
      jobs, concurrency: CONCURRENCY,
      direct_submits_per_s: round(directRate), http_submits_per_s: round(httpRate), http_vs_direct: round(httpRate / directRate, 2),
      ceiling_submits_per_s: round(ceilingRate), ceiling_vs_direct: round(ceilingRate / directAgain, 2),
      serve_cpu_us: { post: round(postCpuUs), get: round(getCpuUs) },
      get_max_per_s: round(getMax), get_at_half: { ...spread(timed), rate_per_s: round(rate) },
      idle_rss_mb: idleRss, after_load_rss_mb: rssMb(serve.child.pid ?? 0),
    };
  } finally {
    agent.destroy();
    if (serve.child.exitCode === null && serve.child.signalCode === null) {
      const exited = new Promise((resolve) => serve.child.once('exit', resolve));
      serve.child.kill('SIGTERM');
      await exited;
    }
    for await (const found of env.redis.scanStream({ match: `${base}*`, count: 1_000 })) {
      const names = found as string[];
      if (names.length > 0) await env.redis.unlink(...names);
    }
  }
}
