// Runs after `tsc` in `npm run build`: tsc writes plain files, but the `dan` bin (package.json "bin")
// must be executable to run as `./dist/src/cli/main.js` or through an `npm link`, and the queue's Lua
// scripts (lib/redis/lua/*.lua, read next to the module that loads them) must sit beside the compiled
// code, which is also what the agent image copies.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { fileURLToPath, URL } from 'node:url';

const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (existsSync(cli)) chmodSync(cli, 0o755);

const luaFrom = fileURLToPath(new URL('../lib/redis/lua/', import.meta.url));
const luaTo = fileURLToPath(new URL('../dist/lib/redis/lua/', import.meta.url));
mkdirSync(luaTo, { recursive: true });
for (const file of readdirSync(luaFrom)) {
  if (file.endsWith('.lua')) copyFileSync(luaFrom + file, luaTo + file);
}
