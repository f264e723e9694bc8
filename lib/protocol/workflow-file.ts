import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import type { Node, Pair, YAMLMap } from 'yaml';
import { DOMAIN_NAME_PATTERN } from './agent.js';
import { DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS, PRIORITIES, type Priority } from './task.js';
import type { RunIf, WorkflowParse, WorkflowProblem, WorkflowStep } from './workflow.js';
import { findCycle, MAX_DEPENDENCIES, MAX_WORKFLOW_BYTES, MAX_WORKFLOW_STEPS, RUN_IF, STEP_NAME_PATTERN } from './workflow.js';

// The YAML reader of workflow files, apart from workflow.ts: the task-dependency code every agent
// loads reads that module's limits, and the yaml package (73 modules) should load only where a file is read.

const TOP_KEYS = ['name', 'steps'] as const;
const STEP_KEYS = ['domain', 'description', 'needs', 'run_if', 'priority', 'timeout_seconds', 'requirements', 'context', 'metadata'] as const;
/** What `metadata:` of a step may carry to its task. */
const STEP_METADATA_KEYS = ['verify', 'verify_mode', 'max_attempts', 'delivery'] as const;

/**
 * Reads a workflow file (YAML): `name:` and `steps:`, a map of step name to {description, domain?,
 * needs?, run_if?, priority?, timeout_seconds?, requirements?, context?, metadata?}. Every problem is
 * listed with its line and its fix; nothing is queued from a file with any. The step limit is checked
 * on the raw map before any step is read, so a huge file costs only its parse.
 */
export function parseWorkflow(text: string): WorkflowParse {
  if (Buffer.byteLength(text, 'utf8') > MAX_WORKFLOW_BYTES) {
    return fail(0, `the file is over ${MAX_WORKFLOW_BYTES} bytes: split it into smaller workflows`);
  }
  const counted = countBlockSteps(text);
  if (counted && counted.steps > MAX_WORKFLOW_STEPS) return fail(counted.line, tooMany(counted.steps));
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const lineOf = (node: Node | Pair | null | undefined): number => {
    const range = node && 'range' in node ? node.range : node && 'key' in node ? (node.key as Node | null)?.range : undefined;
    return range ? lines.linePos(range[0]).line : 0;
  };
  const problems: WorkflowProblem[] = doc.errors.map((e) => ({
    line: lines.linePos(e.pos[0]).line,
    message: /duplicate|unique/i.test(e.message) ? `${e.message.split('\n')[0]}: give each step (and each key) a name of its own` : `not valid YAML: ${e.message.split('\n')[0]}`,
  }));
  if (problems.length > 0) return { ok: false, problems };
  const root = doc.contents;
  if (!isMap(root)) return fail(lineOf(root), "a workflow file is a map with 'name:' and 'steps:' (see examples/workflow.yaml)");
  for (const pair of root.items) {
    const key = keyText(pair);
    if (!(TOP_KEYS as readonly string[]).includes(key)) problems.push({ line: lineOf(pair), message: `unknown key '${key}': a workflow has only ${TOP_KEYS.join(' and ')}` });
  }
  const nameNode = root.get('name', true) as Node | undefined;
  const nameValue: unknown = isScalar(nameNode) ? nameNode.value : undefined;
  const name = typeof nameValue === 'string' ? nameValue.trim() : '';
  if (name === '' || name.length > 200) problems.push({ line: lineOf(nameNode ?? root), message: "'name:' must be text of 1-200 characters naming the workflow" });
  const stepsNode = root.get('steps', true) as Node | undefined;
  if (!isMap(stepsNode)) {
    problems.push({ line: lineOf(stepsNode ?? root), message: "'steps:' must be a map of step name to step, such as 'steps: {build: {description: ...}}'" });
    return { ok: false, problems };
  }
  if (stepsNode.items.length === 0) return fail(lineOf(stepsNode), "'steps:' is empty: a workflow needs at least one step");
  if (stepsNode.items.length > MAX_WORKFLOW_STEPS) {
    return fail(lineOf(stepsNode), tooMany(stepsNode.items.length));
  }
  const steps: WorkflowStep[] = [];
  const stepLines = new Map<string, number>();
  for (const pair of stepsNode.items) {
    const step = readStep(pair, lineOf, problems);
    if (step) {
      steps.push(step);
      stepLines.set(step.name, lineOf(pair));
    }
  }
  for (const step of steps) {
    for (const need of step.needs) {
      if (need === step.name) problems.push({ line: stepLines.get(step.name) ?? 0, message: `step '${step.name}' needs itself: remove it from its own needs` });
      else if (!stepLines.has(need)) problems.push({ line: stepLines.get(step.name) ?? 0, message: `step '${step.name}' needs '${need}', which is not a step of this file: add that step, or fix the name (steps: ${[...stepLines.keys()].slice(0, 20).join(', ')})` });
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  const cycle = findCycle(steps.map((s) => ({ id: s.name, after: s.needs })));
  if (cycle) return fail(stepLines.get(cycle[0] as string) ?? 0, `the steps' needs form a cycle (${cycle.join(' -> ')}): remove one of these needs`);
  return { ok: true, workflow: { name, steps } };
}

function tooMany(steps: number): string {
  return `the workflow has ${steps} steps, over the limit of ${MAX_WORKFLOW_STEPS}: split it into several workflows that wait on each other (dan send --after)`;
}

/**
 * The steps of a block-style `steps:` map counted from its lines alone (keys at the first step's
 * indentation), with the line of the first step: parsing 10,000 steps takes the YAML parser seconds,
 * this a few milliseconds. Undefined for other layouts, which the parse itself counts.
 */
function countBlockSteps(text: string): { steps: number; line: number } | undefined {
  const all = text.split('\n');
  const start = all.findIndex((l) => /^steps:\s*(#.*)?$/.test(l));
  if (start < 0) return undefined;
  let indent = -1;
  let steps = 0;
  let first = 0;
  for (let i = start + 1; i < all.length; i++) {
    const line = all[i] as string;
    if (/^\s*(#.*)?$/.test(line)) continue;
    const lead = /^ */.exec(line)?.[0].length ?? 0;
    if (lead === 0) break;
    if (indent < 0) { indent = lead; first = i + 1; }
    if (lead === indent && !/^\s*[-#]/.test(line)) steps++;
  }
  return { steps, line: first };
}

function fail(line: number, message: string): WorkflowParse {
  return { ok: false, problems: [{ line, message }] };
}

function keyText(pair: Pair): string {
  const key = pair.key;
  return isScalar(key) ? String(key.value) : String(key);
}

function readStep(pair: Pair, lineOf: (node: Node | Pair | null | undefined) => number, problems: WorkflowProblem[]): WorkflowStep | undefined {
  const name = keyText(pair);
  const at = lineOf(pair);
  const before = problems.length;
  const add = (node: Node | Pair | null | undefined, message: string): void => { problems.push({ line: lineOf(node) || at, message: `step '${name}': ${message}` }); };
  if (!STEP_NAME_PATTERN.test(name)) add(pair, 'a step name is 1-64 of A-Z a-z 0-9 _ -, not starting with -: rename it');
  const body = pair.value;
  if (!isMap(body)) {
    add(pair, "must be a map with at least 'description:'");
    return undefined;
  }
  for (const item of (body as YAMLMap).items) {
    const key = keyText(item);
    if (!(STEP_KEYS as readonly string[]).includes(key)) add(item, `unknown key '${key}': a step takes ${STEP_KEYS.join(', ')}`);
  }
  const js = body.toJSON() as Record<string, unknown>;
  const node = (key: string): Node | null | undefined => body.get(key, true) as Node | null | undefined;
  const description = typeof js['description'] === 'string' ? js['description'].trim() : '';
  if (description === '') add(node('description') ?? pair, "'description:' is required: say what the step does");
  const domain = js['domain'] === undefined ? 'main' : js['domain'];
  if (typeof domain !== 'string' || !DOMAIN_NAME_PATTERN.test(domain)) add(node('domain'), "'domain:' must be a domain name such as backend, or main (the default) to route the step");
  const needs = js['needs'] === undefined ? [] : typeof js['needs'] === 'string' ? [js['needs']] : js['needs'];
  if (!Array.isArray(needs) || needs.some((n) => typeof n !== 'string')) add(node('needs'), "'needs:' must be a step name or a list of step names");
  else if (needs.length > MAX_DEPENDENCIES) add(node('needs'), `'needs:' names ${needs.length} steps, over the limit of ${MAX_DEPENDENCIES}`);
  const runIf = js['run_if'] ?? 'success';
  if (!(RUN_IF as readonly unknown[]).includes(runIf)) add(node('run_if'), "'run_if:' must be success (the default: not run when a step it needs failed) or always");
  const priority = js['priority'];
  if (priority !== undefined && !(PRIORITIES as readonly unknown[]).includes(priority)) add(node('priority'), "'priority:' must be low, normal or high");
  const timeout = js['timeout_seconds'];
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && timeout <= MAX_TIMEOUT_SECONDS)) add(node('timeout_seconds'), `'timeout_seconds:' must be a number of seconds from 1 to ${MAX_TIMEOUT_SECONDS} (default ${DEFAULT_TIMEOUT_SECONDS})`);
  const requirements = js['requirements'] ?? [];
  if (!Array.isArray(requirements) || requirements.some((r) => typeof r !== 'string')) add(node('requirements'), "'requirements:' must be a list of text");
  const context = js['context'] ?? {};
  if (typeof context !== 'object' || context === null || Array.isArray(context)) add(node('context'), "'context:' must be a map");
  const metadata = js['metadata'] ?? {};
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) add(node('metadata'), `'metadata:' must be a map of ${STEP_METADATA_KEYS.join(', ')}`);
  else {
    for (const key of Object.keys(metadata)) {
      if (!(STEP_METADATA_KEYS as readonly string[]).includes(key)) add(node('metadata'), `unknown metadata '${key}': a step's metadata takes ${STEP_METADATA_KEYS.join(', ')}`);
    }
  }
  if (problems.length > before) return undefined;
  return {
    name, domain: domain as string, description, needs: [...new Set(needs as string[])], runIf: runIf as RunIf,
    ...(priority !== undefined ? { priority: priority as Priority } : {}),
    ...(timeout !== undefined ? { timeoutSeconds: timeout as number } : {}),
    requirements: requirements as string[], context: context as Record<string, unknown>, metadata: metadata as Record<string, unknown>,
  };
}
