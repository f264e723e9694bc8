import { z } from 'zod';
import { DOMAIN_KIND_NAMES, type DomainKindName } from './domain-kinds.js';
import { AgentDefinitionError, type FrontMatter } from './front-matter.js';

/** Tools a worker may be given; the names match the worker runtime's file tools. */
export const TOOL_NAMES = ['Read', 'Write', 'Edit', 'Glob', 'Grep', 'Bash'] as const;
/** One of `TOOL_NAMES`. */
export type ToolName = (typeof TOOL_NAMES)[number];

/**
 * What part a worker plays in a task (`role:` of its definition): coders and docs writers are picked by
 * their keywords; testers run after them on every task of the domain; a reviewer answers approve or
 * request changes on the round's work (src/domain/review-step.ts).
 */
export const WORKER_ROLES = ['coder', 'tester', 'reviewer', 'docs'] as const;
/** One of `WORKER_ROLES`. */
export type WorkerRole = (typeof WORKER_ROLES)[number];

/** The main orchestrator's model-based router, from `agents/main/router.md`. */
export interface RouterDefinition {
  name: string;
  description: string;
  /** Model alias or id for routing, when router.md sets one; otherwise the configured default. */
  model?: string;
  /** The Markdown body: the router's system prompt. */
  prompt: string;
  file: string;
}

/** A worker of a domain, from `agents/<domain>/workers/<name>.md`. */
export interface WorkerDefinition {
  name: string;
  description: string;
  tools: ToolName[];
  /** A model alias (sonnet, opus, haiku), a full model id, or `inherit` for the configured default. */
  model: string;
  keywords: string[];
  /** Workers of the same domain this one runs after when both are picked for a task. */
  after: string[];
  /** The worker used when no keyword of any worker matches a sub-task. */
  isDefault: boolean;
  /** Its part in a task; `coder` when the definition says none. */
  role: WorkerRole;
  /** The Markdown body: the worker's system prompt. */
  prompt: string;
  file: string;
}

/** A domain, from `agents/<domain>/domain.md`, with its workers sorted by name. */
export interface DomainDefinition {
  name: string;
  description: string;
  keywords: string[];
  /** Domains this one runs after when both are in a plan. */
  after: string[];
  /** The domain a task goes to when no domain matches it. */
  fallback: boolean;
  model?: string;
  /** Its kind (see DOMAIN_KINDS): `workers` (waves of its workers, the default), `farm` (an agent farm) or `elf` (the memory). */
  handler?: DomainHandlerKind;
  /** Limits of this domain's containers (Docker spawner), overriding the network's defaults. */
  container: ContainerLimits;
  /** Checks run in a task's workspace after its workers (`verify:`); a task may add to or replace them. Absent: none. */
  verify?: string[];
  /** Every task of this domain awaits a person's approval before its work starts (`approval: true`; lib/redis/approvals.ts). */
  approval?: boolean;
  /** The Markdown body: the domain orchestrator's instructions. */
  prompt: string;
  file: string;
  workers: WorkerDefinition[];
}

/** The kinds a domain may be, from the registry in domain-kinds.ts. */
export const DOMAIN_HANDLERS = DOMAIN_KIND_NAMES;
export type DomainHandlerKind = DomainKindName;

/** Resource limits of a domain container; a missing field takes the network's default. */
export interface ContainerLimits {
  /** Bytes of memory. */
  memoryBytes?: number;
  /** CPUs, fractions allowed (0.5 is half a CPU). */
  cpus?: number;
  /** Most processes and threads at once. */
  pids?: number;
}

const sizeUnits: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Parses a memory size as Docker writes it (`512m`, `1g`, `1.5g`, or bytes), or undefined when it is not one. */
export function parseMemorySize(value: string | number): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)i?b?\s*$/i.exec(String(value));
  if (!match) return undefined;
  const bytes = Math.round(Number(match[1]) * (sizeUnits[(match[2] ?? '').toLowerCase()] ?? 1));
  return bytes > 0 ? bytes : undefined;
}

/** Every agent definition of a network: the router and the domains, as loaded from one folder. */
export interface AgentCatalog {
  /** The folder the catalog was loaded from. */
  dir: string;
  router: RouterDefinition;
  /** The domains planners route to, sorted by name. */
  domains: DomainDefinition[];
  /** Every domain, those asked by name only (the memory) too, sorted by name; absent in a hand-built catalog, which has only `domains`. */
  allDomains?: DomainDefinition[];
  /** The domain marked `fallback: true`, else `backend`, else the first domain. */
  fallback: DomainDefinition;
  domain(name: string): DomainDefinition | undefined;
}

/** A list field may be written as a list, a single value, or a comma-separated string. */
function toList(value: unknown): unknown {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value.split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (typeof value === 'number') return [String(value)];
  if (Array.isArray(value)) return value.map((item) => (typeof item === 'number' ? String(item) : item));
  return value;
}

const text = (what: string) => z.string({ error: `must be ${what} (text)` }).trim().min(1, { error: `must not be empty: write ${what}` });
const list = (item: z.ZodType<string>) => z.preprocess(toList, z.array(item, { error: 'must be a list such as [a, b] or lines of "- a"' }));
const word = z.string({ error: 'items must be text' }).trim().min(1, { error: 'items must not be empty' });
const flag = z.boolean({ error: 'must be true or false' });

/** Front matter of `main/router.md`. Strict: a misspelt field is an error, not silently ignored. */
export const routerFieldsSchema = z.strictObject({
  name: text('the name "main"'),
  description: text('one sentence on what the router does'),
  model: text('a model alias (sonnet, opus, haiku) or id').optional(),
});

/** Front matter of `<domain>/domain.md`. */
export const domainFieldsSchema = z.strictObject({
  name: text('the folder name'),
  description: text('one sentence on what the domain owns'),
  keywords: list(word),
  after: list(word),
  fallback: flag.default(false),
  approval: flag.default(false),
  model: text('a model alias (sonnet, opus, haiku) or id').optional(),
  handler: z.enum(DOMAIN_HANDLERS, { error: `must be one of ${DOMAIN_HANDLERS.join(', ')}` }).default('workers'),
  container_memory: z
    .union([z.string(), z.number()])
    .refine((value) => parseMemorySize(value) !== undefined && parseMemorySize(value)! >= 6 * 1024 ** 2, { error: 'must be a memory size of at least 6m, such as 512m or 2g' })
    .optional(),
  container_cpus: z.coerce.number({ error: 'must be a number of CPUs, such as 0.5 or 2' }).positive({ error: 'must be more than 0' }).optional(),
  container_pids: z.coerce.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' }).min(16, { error: 'must be at least 16' }).optional(),
  // A command may hold commas (`npm test -- --a,b`): one text is one command, never split like other lists.
  verify: z.preprocess(
    (value) => (value === undefined || value === null ? [] : typeof value === 'string' ? [value] : value),
    z.array(word, { error: 'must be a command, or lines of "- <command>"' }),
  ),
});

/** Front matter of `<domain>/workers/<name>.md`; `model` defaults to the configured default model. */
export const workerFieldsSchema = z.strictObject({
  name: text('the file name without .md'),
  description: text('one sentence on what the worker does'),
  tools: z.preprocess(
    toList,
    z
      .array(z.enum(TOOL_NAMES, { error: `must be one of ${TOOL_NAMES.join(', ')} (names are case-sensitive)` }), {
        error: 'must be a list such as [Read, Edit]',
      })
      .min(1, { error: `needs at least one of ${TOOL_NAMES.join(', ')}` }),
  ),
  model: text('a model alias (sonnet, opus, haiku) or id').default('inherit'),
  keywords: list(word),
  after: list(word),
  default: flag.default(false),
  role: z.enum(WORKER_ROLES, { error: `must be one of ${WORKER_ROLES.join(', ')}` }).default('coder'),
});

/**
 * Validates front-matter fields against a schema, turning every problem into one error that names
 * the file, the line and the field, and says what to write instead.
 */
export function validateFields<S extends z.ZodType>(schema: S, frontMatter: FrontMatter, file: string): z.infer<S> {
  const parsed = schema.safeParse(frontMatter.data);
  if (parsed.success) return parsed.data;
  const allowed = schema instanceof z.ZodObject ? Object.keys(schema.shape as object).join(', ') : '';
  const problems = parsed.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys;
      const line = keys.map((key) => frontMatter.lines[key]).find((value) => value !== undefined);
      return { line, text: `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')}: the fields are ${allowed}` };
    }
    const field = String(issue.path[0] ?? '');
    const item = issue.path[1];
    const items = toList(frontMatter.data[field]);
    const value = typeof item === 'number' && Array.isArray(items) ? (items as unknown[])[item] : undefined;
    const where = typeof item === 'number' ? `field '${field}' item ${item + 1}${value === undefined ? '' : ` (${JSON.stringify(value)})`}` : `field '${field}'`;
    const missing = frontMatter.data[field] === undefined && issue.code === 'invalid_type';
    return { line: frontMatter.lines[field], text: missing ? `${where} is missing: add '${field}: ...' to the front matter` : `${where} ${issue.message}` };
  });
  const first = problems[0];
  const message = problems.map((p, i) => (i === 0 || p.line === undefined ? p.text : `(line ${p.line}) ${p.text}`)).join('; ');
  throw new AgentDefinitionError(file, first?.line, message);
}
