import { InvalidInputError } from '../../lib/errors.js';

export type SpawnerChoice = 'process' | 'docker' | 'swarm' | 'both';

/** What one `npm run chaos` does; every field has a default for the full and for the quick form. */
export interface ChaosOptions {
  json: boolean;
  quick: boolean;
  spawner: SpawnerChoice;
  /** Valid tasks sent, across backend, frontend, devops and a few to `main` that fan out. */
  tasks: number;
  /** Messages that cannot be tasks, pushed onto the pending queues. */
  malformed: number;
  seed: number;
  /** A random domain agent is SIGKILLed this often while tasks are still open. */
  killEveryMs: number;
  /** Every valid task must have ended by then, counted from the first send. */
  deadlineMs: number;
  /** How long each worker turn of the local model takes, at least and at most. */
  modelDelayMs: [number, number];
  help: boolean;
}

export const CHAOS_USAGE = `Usage: npm run chaos -- [options]

Sends valid tasks across backend, frontend and devops (and a few to main, which fan out) while a
random domain agent is SIGKILLed every few seconds, Redis is restarted once, and malformed messages
are pushed onto the pending queues; then checks that every task ended exactly once, nothing is left
in the queues, every malformed message was dead-lettered and no agent outlived the network.

Options:
  --spawner process|docker|swarm|both
                                  which spawner to run it with (default both: process and docker;
                                  the Docker run is skipped with a note when no engine answers;
                                  swarm needs an engine that is a Swarm manager: docker swarm init)
  --tasks N                       valid tasks (default 500; --quick 60)
  --malformed N                   malformed messages (default 1000; --quick 100)
  --seed N                        seed of the random choices (default: from the clock, printed)
  --kill-every-ms N               time between kills (default 3000; --quick 2500)
  --quick                         the short form (what CI runs)
  --json                          print the report as JSON
  --help                          this text

Exit code: 0 when every check and goal passes, 1 when any fails, 2 on bad usage.`;

/** Parses the command line of `npm run chaos`; throws InvalidInputError naming every problem. */
export function parseChaosArgs(argv: readonly string[], now = Date.now()): ChaosOptions {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (['--json', '--quick', '--help', '-h'].includes(name)) flags.add(name === '-h' ? '--help' : name);
    else if (['--spawner', '--tasks', '--malformed', '--seed', '--kill-every-ms'].includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) problems.push(`${name} needs a value`);
      else values.set(name, value);
    } else problems.push(`unknown option ${arg}`);
  }
  const quick = flags.has('--quick');
  const number = (name: string, fallback: number, min: number): number => {
    const text = values.get(name);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) problems.push(`${name} must be an integer of at least ${min}, got '${text}'`);
    return n;
  };
  const spawner = values.get('--spawner') ?? 'both';
  if (!['process', 'docker', 'swarm', 'both'].includes(spawner)) problems.push(`--spawner must be process, docker, swarm or both, got '${spawner}'`);
  const tasks = number('--tasks', quick ? 60 : 500, 1);
  const options: ChaosOptions = {
    json: flags.has('--json'),
    quick,
    spawner: spawner as SpawnerChoice,
    tasks,
    malformed: number('--malformed', quick ? 100 : 1000, 0),
    seed: number('--seed', now % 1_000_000_007, 0),
    killEveryMs: number('--kill-every-ms', quick ? 2_500 : 3_000, 200),
    // Generous: a slow machine must not turn into "lost"; what ends late still shows in the timings.
    deadlineMs: Math.max(180_000, tasks * 2_000),
    modelDelayMs: [300, 1_200],
    help: flags.has('--help'),
  };
  if (problems.length > 0) throw new InvalidInputError(`${problems.join('; ')}\n\n${CHAOS_USAGE}`);
  return options;
}
