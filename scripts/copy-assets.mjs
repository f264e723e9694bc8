// Runs after `tsc` in `npm run build`: tsc writes plain files, but the unbundled CLI must be executable
// to run as `./dist/src/cli/main.js` (package.json's "bin", dist/bundle/cli.mjs, is written executable
// by esbuild), and the Lua scripts
// (every lib/**/*.lua: the queue's and registry's in lib/redis/lua, the farm's in lib/farm/lua; each
// read next to the module that loads it) must sit beside the compiled code, which is also what the
// agent image copies. The dashboard's page and styles (ui/*.html, ui/*.css) go beside its compiled
// scripts in dist/ui, which dan serve serves at / and /ui/.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, URL } from 'node:url';

const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (existsSync(cli)) chmodSync(cli, 0o755);

const libFrom = fileURLToPath(new URL('../lib/', import.meta.url));
const libTo = fileURLToPath(new URL('../dist/lib/', import.meta.url));
for (const file of readdirSync(libFrom, { recursive: true, encoding: 'utf8' })) {
  if (!file.endsWith('.lua')) continue;
  mkdirSync(dirname(libTo + file), { recursive: true });
  copyFileSync(libFrom + file, libTo + file);
}

const uiFrom = fileURLToPath(new URL('../ui/', import.meta.url));
const uiTo = fileURLToPath(new URL('../dist/ui/', import.meta.url));
mkdirSync(uiTo, { recursive: true });
for (const file of readdirSync(uiFrom)) {
  if (file.endsWith('.html') || file.endsWith('.css')) copyFileSync(uiFrom + file, uiTo + file);
}
