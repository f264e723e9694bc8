import { keywords } from './keyword-score.js';

/** Names a skeleton is built from: the task and the template values derived from it. */
export interface SkeletonContext {
  task: string;
  slug: string;
  Pascal: string;
  camel: string;
  snake: string;
  worker: string;
  domain: string;
}

/** A file the scripted model writes: a path relative to the workspace and a plausible starting point. */
export interface SkeletonFile {
  path: string;
  content: string;
}

interface FileKind {
  /** The worker name this kind belongs to. */
  worker: string;
  /** Task words that point to this kind when the request names no worker (the Claude Code CLI). */
  keywords: string[];
  file(c: SkeletonContext): SkeletonFile;
}

/** The task on one line, safe inside a line comment. */
const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();

const FILE_KINDS: readonly FileKind[] = [
  {
    worker: 'api',
    keywords: ['api', 'endpoint', 'route', 'rest', 'http', 'handler', 'server', 'health'],
    file: (c) => ({
      path: `src/api/${c.slug}.ts`,
      content: [
        `// ${oneLine(c.task)}`,
        "import type { IncomingMessage, ServerResponse } from 'node:http';",
        '',
        `/** Answers GET /${c.slug} with a JSON status. */`,
        `export function ${c.camel}Handler(_req: IncomingMessage, res: ServerResponse): void {`,
        "  res.writeHead(200, { 'content-type': 'application/json' });",
        `  res.end(JSON.stringify({ ok: true, route: '/${c.slug}' }));`,
        '}',
        '',
      ].join('\n'),
    }),
  },
  {
    worker: 'db',
    keywords: ['database', 'db', 'table', 'migration', 'schema', 'sql', 'column', 'index', 'postgres'],
    file: (c) => ({
      path: `db/migrations/${c.slug}.sql`,
      content: [
        `-- ${oneLine(c.task)}`,
        `CREATE TABLE IF NOT EXISTS ${c.snake} (`,
        '  id BIGSERIAL PRIMARY KEY,',
        '  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),',
        '  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()',
        ');',
        '',
      ].join('\n'),
    }),
  },
  {
    worker: 'auth',
    keywords: ['auth', 'login', 'logout', 'password', 'token', 'session', 'jwt', 'oauth', 'signup', 'permission'],
    file: (c) => ({
      path: `src/auth/${c.slug}.ts`,
      content: [
        `// ${oneLine(c.task)}`,
        "import { timingSafeEqual } from 'node:crypto';",
        '',
        '/** Compares a presented token with the expected one in constant time. */',
        `export function verify${c.Pascal}Token(presented: string, expected: string): boolean {`,
        '  const a = Buffer.from(presented);',
        '  const b = Buffer.from(expected);',
        '  return a.length === b.length && timingSafeEqual(a, b);',
        '}',
        '',
      ].join('\n'),
    }),
  },
  {
    worker: 'react',
    keywords: ['react', 'component', 'page', 'form', 'button', 'modal', 'view', 'ui', 'frontend', 'dashboard'],
    file: (c) => ({
      path: `src/components/${c.Pascal}.tsx`,
      content: [
        `// ${oneLine(c.task)}`,
        `export function ${c.Pascal}(): JSX.Element {`,
        '  return (',
        `    <section className="${c.slug}" aria-label=${JSON.stringify(oneLine(c.task))}>`,
        `      <h2>${c.Pascal}</h2>`,
        '    </section>',
        '  );',
        '}',
        '',
      ].join('\n'),
    }),
  },
  {
    worker: 'css',
    keywords: ['css', 'style', 'theme', 'layout', 'color', 'responsive', 'font'],
    file: (c) => ({
      path: `src/styles/${c.slug}.css`,
      content: [`/* ${oneLine(c.task).replace(/\*\//g, '* /')} */`, `.${c.slug} {`, '  display: block;', '  padding: 1rem;', '}', ''].join('\n'),
    }),
  },
  {
    worker: 'a11y',
    keywords: ['a11y', 'accessibility', 'accessible', 'aria', 'screen', 'reader', 'contrast', 'keyboard'],
    file: (c) => ({
      path: `docs/a11y/${c.slug}.md`,
      content: [
        `# Accessibility review: ${oneLine(c.task)}`,
        '',
        '- [ ] Every control is reachable and usable with the keyboard alone',
        '- [ ] Images and icons have text alternatives',
        '- [ ] Text contrast is at least 4.5:1',
        '- [ ] Form fields have visible labels',
        '',
      ].join('\n'),
    }),
  },
  {
    worker: 'docker',
    keywords: ['docker', 'dockerfile', 'container', 'image', 'compose'],
    file: (c) => ({
      path: `docker/${c.slug}.Dockerfile`,
      content: [
        `# ${oneLine(c.task)}`,
        'ARG NODE_IMAGE=node:20-bookworm-slim',
        'FROM ${NODE_IMAGE}',
        'WORKDIR /app',
        'COPY package*.json ./',
        'RUN npm ci --omit=dev',
        'COPY . .',
        'CMD ["node", "dist/index.js"]',
        '',
      ].join('\n'),
    }),
  },
  {
    worker: 'ci',
    keywords: ['ci', 'pipeline', 'workflow', 'github', 'actions', 'lint', 'release'],
    file: (c) => ({
      path: `.github/workflows/${c.slug}.yml`,
      content: [
        `# ${oneLine(c.task)}`,
        `name: ${c.slug}`,
        'on: [push, pull_request]',
        'jobs:',
        '  check:',
        '    runs-on: ubuntu-latest',
        '    steps:',
        '      - uses: actions/checkout@v4',
        '      - run: npm ci && npm test',
        '',
      ].join('\n'),
    }),
  },
  {
    worker: 'infra',
    keywords: ['infra', 'infrastructure', 'terraform', 'cloud', 'bucket', 'vpc', 'cluster', 'deploy'],
    file: (c) => ({
      path: `infra/${c.slug}.tf`,
      content: [
        `# ${oneLine(c.task)}`,
        `variable "${c.snake}_name" {`,
        '  type    = string',
        `  default = "${c.slug}"`,
        '}',
        '',
        `output "${c.snake}_name" {`,
        `  value = var.${c.snake}_name`,
        '}',
        '',
      ].join('\n'),
    }),
  },
  {
    // The tester of any domain: no task words point to it, it is only ever named.
    worker: 'tester',
    keywords: [],
    file: (c) => ({
      path: `tests/${c.slug}.test.js`,
      content: [
        `// Tests for: ${oneLine(c.task)}`,
        "import assert from 'node:assert/strict';",
        "import { test } from 'node:test';",
        '',
        `test('${c.slug} does what the task asks', () => {`,
        '  assert.ok(true);',
        '});',
        '',
      ].join('\n'),
    }),
  },
];

function notesFile(c: SkeletonContext): SkeletonFile {
  const prefix = c.worker ? `${c.worker}-` : '';
  return {
    path: `notes/${prefix}${c.slug}.md`,
    content: [
      `# ${oneLine(c.task) || 'Task'}`,
      '',
      c.worker ? `Worker: ${c.worker}${c.domain ? ` (domain ${c.domain})` : ''}` : 'Notes',
      '',
      '## Plan',
      '- Understand what is asked and where it fits',
      '- Make the change in small, tested steps',
      '- Note anything left open',
      '',
    ].join('\n'),
  };
}

/**
 * The file a worker writes for a task. The kind follows the worker's name (exactly, or as one
 * part of a dashed name such as `api-builder`); any other worker gets `notes/<worker>-<slug>.md`.
 */
export function skeletonForWorker(c: SkeletonContext): SkeletonFile {
  const parts = c.worker.toLowerCase().split(/[-_]/);
  const kind = FILE_KINDS.find((k) => k.worker === c.worker.toLowerCase()) ?? FILE_KINDS.find((k) => parts.includes(k.worker));
  return kind ? kind.file(c) : notesFile(c);
}

/** The file for a task from a client that names no worker: the kind whose keywords the task uses most. */
export function skeletonForTask(c: SkeletonContext): SkeletonFile {
  const words = keywords(c.task);
  let best: { kind: FileKind; score: number } | undefined;
  for (const kind of FILE_KINDS) {
    const score = kind.keywords.filter((k) => words.has([...keywords(k)][0] ?? k)).length;
    if (score > 0 && (!best || score > best.score)) best = { kind, score };
  }
  return best ? best.kind.file(c) : notesFile(c);
}
