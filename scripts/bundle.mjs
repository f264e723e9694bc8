// Runs after `tsc` in `npm run build`: bundles the agent's entry (what the process spawner and the
// agent image run), the container health check and the dan CLI (package.json's bin) into dist/bundle/, from the TypeScript sources,
// with esbuild. Loading one file instead of a few hundred modules is most of an agent's start-up.
// Code only a main orchestrator or a rarely used path loads (`await import(...)`) goes into chunks
// beside the entry and is read when first used. Native modules stay in node_modules (external).
//
// Source maps sit beside each file: with NODE_OPTIONS=--enable-source-maps stack traces name the .ts
// files and lines. Not on by default: Node then reads every map at load, 20 to 50 ms more CPU per
// agent start (a fifth of it) and 1.5 MB more resident.
// The code is not minified, so a trace without maps still names functions and readable lines.
//
// Modules that find files next to themselves (import.meta.url: the Lua scripts, the package root)
// get the URL of the compiled file tsc wrote for them in dist/, so they read the same files
// whether they run bundled or not.
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = path.join(root, 'dist/bundle');

/**
 * Left out of the bundle and loaded from node_modules: native addons (better-sqlite3; dockerode's ssh2
 * and cpu-features). The agent image keeps these and what they depend on (scripts/prune-node-modules.mjs).
 */
export const EXTERNAL = ['better-sqlite3', 'dockerode'];

/** `import.meta.url` of a source file, as the URL of its compiled twin under dist/, relative to the bundle. */
const compiledUrlOf = {
  name: 'compiled-url-of',
  setup(build) {
    build.onLoad({ filter: /\.ts$/, namespace: 'file' }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const compiled = path.join(root, 'dist', path.relative(root, args.path)).replace(/\.ts$/, '.js');
      const relative = path.relative(outdir, compiled).split(path.sep).join('/');
      return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(relative)}, import.meta.url).href`), loader: 'ts' };
    });
  },
};

/**
 * Zod's error messages in English only. Zod exports every locale it ships (`z.locales`, 350 KB of
 * code) from the namespace every schema is built from, so esbuild keeps them all; their non-Latin
 * text also makes V8 hold the chunk's whole source as a two-byte string. The network sets no other
 * locale (English is zod's default), so the index of locales is cut to English: with the escapes of
 * keepLatin1, an idle agent holds about 1 MB less. `z.locales.<other>` is undefined in the bundles.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
      contents: "export { default as en } from './en.js';",
      loader: 'js',
    }));
  },
};

/**
 * V8 keeps the source of every loaded file for as long as its functions live, one byte a character
 * if every character fits in Latin-1, else two bytes for the whole file. esbuild writes code in
 * ASCII but keeps comments as they are, and a dependency's comment with a dash or an emoji doubles
 * its chunk's share of the agent's heap. Such characters become `\u` escapes of four hex digits: esbuild leaves
 * them in comments only, so the code and its source map stay as they were.
 */
async function keepLatin1(file) {
  const text = await readFile(file, 'utf8');
  if (!/[\u0100-\uffff]/.test(text)) return;
  await writeFile(file, text.replace(/[\u0100-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/**
 * What is bundled: each entry on its own, so the chunks an agent loads at start are cut for the agent
 * alone (shared with the CLI, they came in several times as many small files); the health check, run
 * every few seconds in a container, as one file.
 */
const ENTRIES = [
  { name: 'agent', source: 'src/agent.ts', splitting: true },
  { name: 'cli', source: 'src/cli/main.ts', splitting: true },
  { name: 'healthcheck', source: 'src/healthcheck.ts', splitting: false },
];

/** Writes dist/bundle/ (agent.mjs, cli.mjs, healthcheck.mjs, their chunks and source maps). */
export async function bundle() {
  // Loaded here: scripts/prune-node-modules.mjs reads EXTERNAL where esbuild (a dev dependency) is not installed.
  const esbuild = await import('esbuild');
  const written = new Set();
  for (const entry of ENTRIES) {
    const result = await esbuild.build({
      entryPoints: { [entry.name]: entry.source },
      absWorkingDir: root,
      outdir,
      bundle: true,
      splitting: entry.splitting,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'linked',
      // Stack traces need the mappings and file names, not the sources (the .ts files are in the repository).
      sourcesContent: false,
      external: EXTERNAL,
      outExtension: { '.js': '.mjs' },
      chunkNames: `${entry.name}-[name]-[hash]`,
      // CommonJS dependencies (ioredis, pino) call require() for Node's own modules.
      banner: { js: "import { createRequire as __danRequire } from 'node:module'; const require = __danRequire(import.meta.url);" },
      plugins: [compiledUrlOf, zodEnglishOnly],
      logLevel: 'warning',
      legalComments: 'none',
      metafile: true,
    });
    for (const file of Object.keys(result.metafile.outputs)) written.add(path.resolve(root, file));
  }
  for (const file of written) if (file.endsWith('.mjs')) await keepLatin1(file);
  // Chunk names carry a hash: the files of earlier builds go, once this build's are all in place.
  for (const file of await readdir(outdir)) {
    if (!written.has(path.join(outdir, file))) await rm(path.join(outdir, file), { force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await bundle();
