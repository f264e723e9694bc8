import type { RequestFacts } from './request-facts.js';

/**
 * Names every reply template can use without a capture group. `slug`, `Pascal`, `camel` and
 * `snake` are built from the first three meaningful words of the task ("add a health endpoint"
 * gives health-endpoint, HealthEndpoint, healthEndpoint, health_endpoint); `cwd` is the working
 * directory the client names, or "."; `file` is the `file_path` of the assistant's last tool call.
 */
export const BUILTIN_TEMPLATE_NAMES = [
  'task', 'slug', 'Pascal', 'camel', 'snake', 'worker', 'domain', 'model', 'cwd', 'file', 'lastUser', 'toolResult',
] as const;

/** Words that carry no meaning in a task title, left out of slugs and keyword matching. */
const STOP_WORDS = new Set([
  'a', 'an', 'the', 'and', 'or', 'of', 'to', 'for', 'in', 'on', 'at', 'by', 'with', 'from', 'into', 'that', 'this', 'it',
  'is', 'are', 'be', 'as', 'our', 'my', 'your', 'some', 'all', 'new', 'please', 'add', 'create', 'make', 'build',
  'implement', 'write', 'set', 'up', 'setup', 'update', 'fix', 'use', 'using', 'so', 'we', 'can', 'should', 'must', 'need',
]);

/** The task's meaningful words, lowercase, in order: the base of slugs and keyword matching. */
export function meaningfulWords(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((word) => !STOP_WORDS.has(word));
}

/** kebab-case of the first three meaningful words; "task" when there are none. */
export function slugify(text: string, maxWords = 3): string {
  const words = meaningfulWords(text).slice(0, maxWords);
  return words.length > 0 ? words.join('-') : 'task';
}

/** PascalCase of the slug, safe as a component or class name (a leading digit gets a `T`). */
export function pascalCase(text: string): string {
  const name = slugify(text).split('-').map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join('');
  return /^\d/.test(name) ? `T${name}` : name;
}

/** The built-in template values of a request. */
export function builtinVars(facts: RequestFacts): Record<string, string> {
  const pascal = pascalCase(facts.task);
  return {
    task: facts.task,
    slug: slugify(facts.task),
    Pascal: pascal,
    camel: pascal.charAt(0).toLowerCase() + pascal.slice(1),
    snake: slugify(facts.task).replace(/-/g, '_'),
    worker: facts.worker,
    domain: facts.domain,
    model: facts.model,
    cwd: facts.cwd || '.',
    file: facts.lastFile,
    lastUser: facts.lastUser,
    toolResult: facts.lastToolResult?.text ?? '',
  };
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Replaces each `{{name}}` with its value; a name without a value becomes the empty string. */
export function renderTemplate(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(PLACEHOLDER, (_all, name: string) => vars[name] ?? '');
}

/** Renders every string inside a JSON value (tool inputs), leaving numbers, booleans and keys alone. */
export function renderDeep(value: unknown, vars: Readonly<Record<string, string>>): unknown {
  if (typeof value === 'string') return renderTemplate(value, vars);
  if (Array.isArray(value)) return value.map((item) => renderDeep(item, vars));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, renderDeep(inner, vars)]));
  }
  return value;
}

/** Placeholder names a template (or every string inside a JSON value) uses. */
export function placeholderNames(value: unknown): string[] {
  if (typeof value === 'string') return [...value.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '');
  if (Array.isArray(value)) return value.flatMap(placeholderNames);
  if (value && typeof value === 'object') return Object.values(value).flatMap(placeholderNames);
  return [];
}
