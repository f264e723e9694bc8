// Runs after `tsc` in `npm run build`: tsc writes plain files, but the `dan` bin (package.json "bin")
// must be executable to run as `./dist/src/cli/main.js` or through an `npm link`.
import { chmodSync, existsSync } from 'node:fs';
import { fileURLToPath, URL } from 'node:url';

const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (existsSync(cli)) chmodSync(cli, 0o755);
