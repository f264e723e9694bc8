import type Docker from 'dockerode';

/** The part of a Swarm task (GET /tasks) the Swarm spawner reads. */
export interface SwarmTask {
  ID: string;
  CreatedAt?: string;
  DesiredState?: string;
  Status?: {
    State?: string;
    Message?: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number | null };
  };
}

/** States after which a task never runs again. */
const ENDED = new Set(['complete', 'shutdown', 'failed', 'rejected', 'orphaned', 'remove']);

/** The tasks of a service, old ones included; none when the service is gone. */
export async function swarmTasks(docker: Docker, service: string): Promise<SwarmTask[]> {
  try {
    return (await docker.listTasks({ filters: { service: [service] } })) as SwarmTask[];
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return [];
    throw error;
  }
}

/** Tasks Swarm still means to run (a replica running, starting, or waiting for a node), the service's current replicas. */
export function liveTasks(tasks: readonly SwarmTask[]): SwarmTask[] {
  return tasks.filter((t) => t.DesiredState === 'running' && !ENDED.has(t.Status?.State ?? ''));
}

/** The container id of a task whose container has started; undefined before that, and after its end. */
export function replicaOf(task: SwarmTask): string | undefined {
  const state = task.Status?.State ?? '';
  const id = task.Status?.ContainerStatus?.ContainerID;
  return (state === 'starting' || state === 'running') && task.DesiredState === 'running' && id && /^[0-9a-f]{64}$/.test(id) ? id : undefined;
}

/** Why a task is not running, when Swarm says (an image it cannot pull, no node that fits), else undefined. */
export function taskTrouble(task: SwarmTask): string | undefined {
  const state = task.Status?.State ?? '';
  const err = task.Status?.Err;
  if (err) return `${state}: ${err}`;
  if (ENDED.has(state)) return `${state}: ${task.Status?.Message ?? 'no reason given'}`;
  return undefined;
}

/** The replicas a service asks for (0 when it is gone). */
export async function serviceReplicas(docker: Docker, service: string): Promise<number> {
  const info = (await docker.getService(service).inspect()) as { Spec?: { Mode?: { Replicated?: { Replicas?: number } } } };
  return info.Spec?.Mode?.Replicated?.Replicas ?? 0;
}

/** Sets a service's replicas, the rest of its spec unchanged (so Swarm does not redeploy the running ones). */
export async function setReplicas(docker: Docker, service: string, replicas: number): Promise<void> {
  const handle = docker.getService(service);
  const info = (await handle.inspect()) as { Version: { Index: number }; Spec: { Mode?: { Replicated?: { Replicas?: number } } } };
  const spec = { ...info.Spec, Mode: { Replicated: { Replicas: replicas } } };
  await handle.update({ _query: { version: info.Version.Index }, _body: spec });
}

/** True once a task's container has ended (or it never got one and never will). */
export function taskEnded(task: SwarmTask): boolean {
  return ENDED.has(task.Status?.State ?? '');
}

/**
 * Waits (10 s at most) until a service scaled to zero has no task still running and Swarm has stopped
 * deleting the ones past its replicas: Docker 20.10's manager crashes (a nil task in
 * SetServiceTasksRemove) when a service is removed while it still deletes them.
 */
export async function settleService(docker: Docker, service: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = '';
  while (Date.now() < deadline) {
    const tasks = await swarmTasks(docker, service).catch(() => []);
    const now = tasks.map((t) => `${t.ID}:${t.Status?.State ?? ''}`).sort().join(',');
    if (now === last && tasks.every(taskEnded)) return;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/** The exit status of a replica's container whose task Swarm already dropped (scaled down past its slot); undefined while it runs or when it is gone. */
export async function containerExitCode(docker: Docker, containerId: string): Promise<number | undefined> {
  const info = await docker.getContainer(containerId).inspect().catch(() => undefined);
  return info && !info.State.Running ? info.State.ExitCode : undefined;
}
