import type { Logger } from '../logger.js';
import type { HeartbeatRegistry } from '../redis/heartbeat-registry.js';

/**
 * Takes an agent back into the registry after it was swept (its heartbeat lapsed while it was still
 * running). Resolves false when it must not come back (another agent took its place).
 */
export type Rejoin = () => Promise<boolean>;

/**
 * Keeps one agent, and the workers it runs, alive in the registry: a heartbeat for all of them in one
 * round trip every interval, and one more at once when the connection comes back after a Redis outage
 * (so the agent is current again before anyone sweeps). If the registry says the agent itself was
 * deregistered (the sweeper took it for dead, and handed its tasks back), `rejoin` may register it
 * again; otherwise `onLost` fires and the agent must stop rather than come back under the same id.
 */
export class AgentHeartbeat {
  private readonly members = new Map<string, string>();
  /** Workers that ended while Redis did not answer: their deregistration is tried again at every beat. */
  private readonly leaving = new Map<string, () => Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  private again = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly registry: HeartbeatRegistry,
    private readonly agentId: string,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly onLost: () => void,
    private readonly rejoin?: Rejoin,
  ) {
    this.members.set(agentId, 'idle');
  }

  start(): void {
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
    this.unsubscribe = this.registry.onReconnect(() => {
      this.logger.info({ agentId: this.agentId }, 'redis is back; heartbeating at once');
      void this.beat(true);
    });
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

  /**
   * A worker ended: it leaves the beat and is deregistered. When Redis does not take the deregistration
   * (an outage), it is tried again at every beat until it does, so a finished worker is never left
   * registered with no heartbeat, for a sweep to find long after.
   */
  async release(agentId: string, deregister: () => Promise<void>): Promise<void> {
    this.remove(agentId);
    try {
      await deregister();
    } catch {
      this.leaving.set(agentId, deregister);
    }
  }

  /** How many ended workers still wait for their deregistration (Redis did not answer). */
  get releasesPending(): number {
    return this.leaving.size;
  }

  /**
   * One beat for every member. `urgent`: if a beat is still under way (queued while Redis was away),
   * run another right after it rather than skipping.
   */
  async beat(urgent = false): Promise<void> {
    if (this.beating) {
      if (urgent) this.again = true;
      return;
    }
    this.beating = true;
    try {
      const agents = [...this.members].map(([agentId, status]) => ({ agentId, status }));
      const gone = await this.registry.heartbeat(agents);
      for (const [agentId, deregister] of [...this.leaving]) {
        await deregister();
        this.leaving.delete(agentId);
      }
      for (const id of gone) {
        if (id !== this.agentId) {
          this.members.delete(id);
          continue;
        }
        if (this.timer && this.rejoin && (await this.rejoin().catch(() => false))) {
          this.logger.warn({ agentId: id }, 'this agent was deregistered (its heartbeat lapsed) while still running; registered again');
          continue;
        }
        this.members.delete(id);
        this.logger.error({ agentId: id }, 'this agent was deregistered (its heartbeat lapsed); stopping');
        this.stop();
        this.onLost();
      }
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'heartbeat failed; will retry');
    } finally {
      this.beating = false;
    }
    if (this.again && this.timer) {
      this.again = false;
      await this.beat();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}

