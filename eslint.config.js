import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Each I/O library is imported in one place (see ../shared/docs/style.md); types may travel. */
const confined = {
  dockerode: 'dockerode is imported only by lib/spawner/docker-engine.ts; use connectDocker (types may travel).',
  '@anthropic-ai/sdk': '@anthropic-ai/sdk is imported only by lib/llm/anthropic-llm-client.ts; use the LlmClient interface.',
  ioredis: 'ioredis is imported only in lib/redis (type imports are fine); use connectRedis.',
  pino: 'pino is imported only by lib/logger.ts; use createLogger.',
  yargs: 'yargs is imported only by the CLI (src/cli).',
  'better-sqlite3': 'better-sqlite3 is imported only by lib/elf/elf-database.ts; use ElfDatabase.',
  '@modelcontextprotocol/sdk': '@modelcontextprotocol/sdk is imported only by src/elf/elf-mcp.ts.',
  bullmq: 'bullmq is the benchmark\'s reference only: imported only in src/bench.',
  'playwright-core': 'playwright-core drives the browser of the dashboard\'s tests and bench only: imported only in src/bench (and tests).',
  fastify: 'fastify is imported only by the HTTP API (src/api).',
  'fastify-type-provider-zod': 'fastify-type-provider-zod is imported only by the HTTP API (src/api).',
  '@fastify/swagger': '@fastify/swagger is imported only by the HTTP API (src/api).',
  'prom-client': 'prom-client is imported only in src/metrics; use renderMetrics.',
};

function restrictExcept(...allowed) {
  const restricted = Object.entries(confined).filter(([name]) => !allowed.includes(name));
  return ['error', {
    paths: restricted.flatMap(([name, message]) => [{ name, message, allowTypeImports: true }, { name: `${name}/helpers`, message, allowTypeImports: true }]),
    // Subpaths too: the MCP SDK is only reachable through them ('@modelcontextprotocol/sdk/server/mcp.js').
    patterns: restricted.map(([name, message]) => ({ group: [`${name}/*`], message, allowTypeImports: true })),
  }];
}

/**
 * Redis commands are issued only in lib/redis (see ../shared/docs/style.md): a call of anything but
 * connection handling on an object named redis (or blocking, subscriber), or on an `x.redis`, is refused
 * in src/. src/bench and src/chaos stay exempt: they measure and attack Redis as outside clients would.
 */
const CONNECTION_METHODS = '/^(disconnect|quit|connect|duplicate|on|once|off|removeListener|removeAllListeners|stop)$/';
const REDIS_NAMES = '/^(redis|blocking|subscriber|publisher)$/i';
const RAW_REDIS_MESSAGE = 'Redis commands live in lib/redis: add (or use) a function or method there (task-store, result-fields, plan-store, heartbeat-registry, ...) and call it from here.';
const rawRedisCalls = ['error',
  { selector: `CallExpression[callee.object.type='Identifier'][callee.object.name=${REDIS_NAMES}][callee.property.name!=${CONNECTION_METHODS}]`, message: RAW_REDIS_MESSAGE },
  { selector: `CallExpression[callee.object.type='MemberExpression'][callee.object.property.name=${REDIS_NAMES}][callee.property.name!=${CONNECTION_METHODS}]`, message: RAW_REDIS_MESSAGE },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'workspace/**', '.dan/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  { files: ['lib/**/*.ts', 'src/**/*.ts'], rules: { '@typescript-eslint/no-restricted-imports': restrictExcept() } },
  { files: ['lib/redis/**/*.ts'], rules: { '@typescript-eslint/no-restricted-imports': restrictExcept('ioredis') } },
  { files: ['lib/logger.ts'], rules: { '@typescript-eslint/no-restricted-imports': restrictExcept('pino') } },
  { files: ['lib/llm/anthropic-llm-client.ts'], rules: { '@typescript-eslint/no-restricted-imports': restrictExcept('@anthropic-ai/sdk') } },
  { files: ['lib/spawner/docker-engine.ts'], rules: { '@typescript-eslint/no-restricted-imports': restrictExcept('dockerode') } },
  { files: ['src/cli/**/*.ts'], rules: { '@typescript-eslint/no-restricted-imports': restrictExcept('yargs') } },
  { files: ['lib/elf/elf-database.ts'], rules: { '@typescript-eslint/no-restricted-imports': restrictExcept('better-sqlite3') } },
  { files: ['src/elf/elf-mcp.ts'], rules: { '@typescript-eslint/no-restricted-imports': restrictExcept('@modelcontextprotocol/sdk') } },
  { files: ['src/api/**/*.ts'], rules: { '@typescript-eslint/no-restricted-imports': restrictExcept('fastify', 'fastify-type-provider-zod', '@fastify/swagger') } },
  { files: ['src/metrics/**/*.ts'], rules: { '@typescript-eslint/no-restricted-imports': restrictExcept('prom-client') } },
  { files: ['src/bench/**/*.ts'], rules: { '@typescript-eslint/no-restricted-imports': restrictExcept('bullmq', 'playwright-core') } },
  {
    files: ['src/**/*.ts'],
    // bench and chaos measure and attack Redis as outside clients would (raw pushes, INFO).
    ignores: ['src/bench/**', 'src/chaos/**'],
    rules: { 'no-restricted-syntax': rawRedisCalls },
  },
  {
    // The dashboard runs in the browser: it reaches the network only through the HTTP API, so it may
    // import nothing but its own modules (no Node built-ins, no lib/ or src/, no package).
    files: ['ui/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [
          { regex: '^node:', message: 'the dashboard runs in the browser: Node built-ins are not there.' },
          { regex: '^(\\.\\./)+(lib|src|tests|scripts)(/|$)|^\\.\\./\\.\\./\\.\\.', message: 'the dashboard uses only the HTTP API: it imports nothing from lib/ or src/ (they are Node code); add an endpoint instead.' },
          { regex: '^[^./]', message: 'the dashboard ships no packages: it is plain browser TypeScript, served offline as it is.' },
        ],
      }],
    },
  },
  {
    files: ['**/*.mjs', 'scripts/**/*.js', 'tests/fixtures/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', setInterval: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly' } },
  },
);
