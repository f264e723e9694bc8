/** How long an agent stays idle before its garbage is collected. */
export const IDLE_COLLECT_DELAY_MS = 1_000;

/** A full garbage collection: the `gc` that Node's `--expose-gc` (one of DOMAIN_NODE_FLAGS) puts on the global object. */
export type Collect = () => void;

/** The global `gc`, or undefined where Node runs without `--expose-gc` (an agent in a test's process, say). */
export function exposedGc(): Collect | undefined {
  const gc = (globalThis as { gc?: Collect }).gc;
  return typeof gc === 'function' ? gc : undefined;
}

/**
 * Collects an agent's garbage once it has been idle for a moment: what its start-up and its last tasks
 * left in the heap, which V8's memory reducer would otherwise collect only about 8 s after the last
 * full collection. Two collections: the pages the first one frees are released after its concurrent
 * sweep, which the second finishes. Only when idle, so no task waits on it; a task arriving first
 * (`busy`) cancels it. Does nothing without a `gc` to call.
 */
export class IdleCollector {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly collect: Collect | undefined = exposedGc(),
    private readonly delayMs = IDLE_COLLECT_DELAY_MS,
  ) {}

  /** The agent has nothing to do: collect after the delay, unless it gets work first. */
  idle(): void {
    const collect = this.collect;
    if (!collect || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      collect();
      collect();
    }, this.delayMs);
    this.timer.unref();
  }

  /** The agent has work (or stops): no collection until it is idle again. */
  busy(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
