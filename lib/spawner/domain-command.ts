/** The bundled agent entry, relative to the package root (scripts/bundle.mjs writes it). */
export const AGENT_BUNDLE = 'dist/bundle/agent.mjs';

/** Where the agent image holds the bundled agent entry (Dockerfile.agent). */
export const IMAGE_AGENT_BUNDLE = `/app/${AGENT_BUNDLE}`;

/**
 * The Node flags a domain agent runs with, in every start form: the process spawner's command line,
 * the Docker and Swarm spawners' container command, the generated Kubernetes manifests, and the
 * domain services of docker-compose.yml and the farm Job (tests/unit/domain-command.test.ts checks
 * those two). On the agent's own command line rather than in NODE_OPTIONS, which the commands an
 * agent runs (git, the Claude Code CLI, a task's checks) would inherit.
 *
 * - `--max-semi-space-size=1`: V8 grows the young generation to 16 MB while the agent loads its code,
 *   and keeps it resident; 1 MB semi-spaces hold an idle domain ~7 MB smaller. A domain's task path
 *   allocates little, and the extra scavenges did not show in the bench's throughput (README).
 * - `--expose-gc`: lets the agent collect the garbage of its start-up and of its last tasks once it is
 *   idle (lib/runtime/idle-collector.ts), as V8's own memory reducer would only 8 s later.
 * - `--compact-on-every-full-gc`: those collections (and the rare full collection of a busy domain)
 *   also move live objects out of half-empty pages, which go back to the system: ~2 MB more.
 * - `--v8-pool-size=1`: one V8 helper thread instead of four (its malloc arena and stack): ~0.7 MB.
 * - `--bytecode-old-age=1`, `--flush-baseline-code`: a full collection drops the compiled code of every
 *   function that has not run since the one before (the idle collection's two collections: the code of
 *   start-up and of paths the last tasks did not take), baseline code included; a function that runs
 *   again is compiled again from its source, as on its first call. ~1.3 MB of V8's heap.
 * - `--interrupt-budget=270336` (four times Node 20's default): a function is optimized by TurboFan
 *   after four times as much work. Start-up and a few tasks then optimize nothing, and never touch the
 *   optimizing compiler's code, 3.5 MB of the Node binary that would otherwise count in the resident
 *   memory of every domain (shared with the host's other Node processes, but counted in each one's
 *   resident size). A busy domain's task path is optimized as before, some milliseconds later.
 *
 * Not for the main orchestrator (the image's CMD, which compose's and the Kubernetes main run): routing
 * allocates per task, and 1 MB semi-spaces cost it about a fifth of its routed throughput.
 */
export const DOMAIN_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--expose-gc', '--compact-on-every-full-gc', '--v8-pool-size=1', '--bytecode-old-age=1', '--flush-baseline-code', '--interrupt-budget=270336'];

/** The command line of a domain agent: `node`, the domain flags, then the bundled entry. */
export function domainCommand(node: string, bundle: string): [string, ...string[]] {
  return [node, ...DOMAIN_NODE_FLAGS, bundle];
}

/** The command of a domain agent's container (after the image's `tini --` entry point). */
export function containerDomainCommand(): [string, ...string[]] {
  return domainCommand('node', IMAGE_AGENT_BUNDLE);
}
