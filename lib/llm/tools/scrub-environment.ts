/** Variables a command never sees by name: model and Redis credentials. */
const DROPPED_NAMES: ReadonlySet<string> = new Set([
  'ANTHROPIC_API_KEY', 'REDIS_URL', 'REDIS_PASSWORD', 'REDIS_MAIN_PASSWORD', 'REDIS_AGENT_PASSWORD', 'REDIS_CLIENT_PASSWORD', 'REDIS_VIEWER_PASSWORD',
]);
/** ...and anything named like a secret. */
const SECRET_SUFFIX = /_(TOKEN|SECRET|KEY)$/i;

/**
 * The environment for a command the model runs: the worker's own, minus credentials. The model's
 * commands are untrusted text, and a `printenv` in a tool result would put a key in the transcript.
 */
export function scrubEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || DROPPED_NAMES.has(name.toUpperCase()) || SECRET_SUFFIX.test(name)) continue;
    clean[name] = value;
  }
  return clean;
}
