import type { Logger } from '../logger.js';
import type { HeartbeatRegistry } from '../redis/heartbeat-registry.js';

/**
 * Keeps one agent, and the workers it runs, alive in the registry: a heartbeat for all of them in one
 * round trip every interval. If the registry says the agent itself was deregistered (the sweeper took
 * it for dead, and handed its tasks back), `onLost` fires: the agent must stop rather than come back
 * under the same id.
 */
export class AgentHeartbeat {
  private readonly members = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private beating = false;

  constructor(
    private readonly registry: HeartbeatRegistry,
    private readonly agentId: string,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly onLost: () => void,
  ) {
    this.members.set(agentId, 'idle');
  }

  start(): void {
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
  }

  setStatus(agentId: string, status: string): void {
    this.members.set(agentId, status);
  }

  /** Adds a worker to the beat; it must be registered already. */
  add(agentId: string, status = 'busy'): void {
    this.members.set(agentId, status);
  }

  remove(agentId: string): void {
    if (agentId !== this.agentId) this.members.delete(agentId);
  }

  async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      const agents = [...this.members].map(([agentId, status]) => ({ agentId, status }));
      const gone = await this.registry.heartbeat(agents);
      for (const id of gone) {
        this.members.delete(id);
        if (id === this.agentId) {
          this.logger.error({ agentId: id }, 'this agent was deregistered (its heartbeat lapsed); stopping');
          this.onLost();
        }
      }
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'heartbeat failed; will retry');
    } finally {
      this.beating = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
