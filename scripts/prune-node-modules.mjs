// Usage: node scripts/prune-node-modules.mjs <node_modules folder>
// Keeps, in a production node_modules, only the packages the bundled agent loads at run time (the
// EXTERNAL list of scripts/bundle.mjs) and everything they depend on; deletes the rest. The agent image
// (scripts/build-local-images.sh) runs it on the node_modules it copies in: the bundle holds the others.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { EXTERNAL } from './bundle.mjs';

const modules = path.resolve(process.argv[2] ?? '');
if (!process.argv[2] || !existsSync(modules)) {
  process.stderr.write(`prune-node-modules: name a node_modules folder (got '${process.argv[2] ?? ''}')\n`);
  process.exit(2);
}

/** Where Node finds package `name` required from the package folder `from`: the nearest node_modules up. */
function resolvePackage(name, from) {
  for (let dir = from; dir.startsWith(modules); dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === modules) break;
  }
  const top = path.join(modules, name);
  return existsSync(path.join(top, 'package.json')) ? top : undefined;
}

const keep = new Set();
const todo = EXTERNAL.map((name) => resolvePackage(name, modules));
while (todo.length > 0) {
  const dir = todo.pop();
  if (dir === undefined || keep.has(dir)) continue;
  keep.add(dir);
  const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const name of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies })) {
    todo.push(resolvePackage(name, dir));
  }
}

let removed = 0;
for (const entry of readdirSync(modules)) {
  if (entry.startsWith('.')) continue;
  const names = entry.startsWith('@') ? readdirSync(path.join(modules, entry)).map((sub) => path.join(entry, sub)) : [entry];
  for (const name of names) {
    const dir = path.join(modules, name);
    // A kept package's nested node_modules stays with it.
    if ([...keep].some((kept) => kept === dir || kept.startsWith(`${dir}${path.sep}`))) continue;
    rmSync(dir, { recursive: true, force: true });
    removed++;
  }
  if (entry.startsWith('@') && readdirSync(path.join(modules, entry)).length === 0) rmSync(path.join(modules, entry), { recursive: true });
}
rmSync(path.join(modules, '.bin'), { recursive: true, force: true });
process.stdout.write(`prune-node-modules: kept ${keep.size} packages (${EXTERNAL.join(', ')} and their dependencies), removed ${removed}\n`);
