import { afterAll, describe, expect, it } from 'vitest';
import type { KeyParts, KeyTemplate } from '../../lib/redis/keys.js';
import { fillKey, KEY_TEMPLATES } from '../../lib/redis/keys.js';
import { LuaFileScript } from '../../lib/redis/lua/lua-file-script.js';
import { connectTestRedis, uniquePrefix } from '../support/redis.js';

const fixtures = new URL('../fixtures/lua/', import.meta.url);
const prefix = uniquePrefix('lua');
const connected = connectTestRedis(prefix);
afterAll(async () => (await connected).cleanup());

describe('Lua scripts from .lua files', () => {
  it('report an error at the file and line it happened, past the prepended common code', async () => {
    const { redis } = await connected;
    const script = new LuaFileScript({ file: 'fails-1.lua', dir: fixtures, common: true, keys: ['any'], args: ['keyPrefix'] });
    const failure = script.run(redis, { keys: { any: `${prefix}x` }, args: { keyPrefix: prefix } });
    await expect(failure).rejects.toThrow(/fails-1\.lua:4\b/);
    await expect(failure).rejects.not.toThrow(/user_script/);
  });

  it('build the same key names in Lua as Keys does in TypeScript, from the one set of templates', async () => {
    const { redis } = await connected;
    const script = new LuaFileScript({ file: 'key-table-1.lua', dir: fixtures, keyTable: true, keys: ['any'], args: ['keyPrefix', 'part', 'part2'] });
    const names = Object.keys(KEY_TEMPLATES) as KeyTemplate[];
    const built = await script.run(redis, { keys: { any: `${prefix}x` }, args: { keyPrefix: prefix, part: 'task-1', part2: 'src/a b.ts' }, rest: names });
    // A template takes one part (a task id) or two (a farm id and a file); the Lua functions ignore extra parts.
    const partsOf = (name: KeyTemplate) => ['task-1', 'src/a b.ts'].slice(0, KEY_TEMPLATES[name].split('{}').length - 1) as KeyParts<typeof name>;
    expect(built).toEqual(names.map((name) => fillKey(prefix, name, ...partsOf(name))));
    expect(built).toContain(`${prefix}dan:farm:task-1:lock:src/a b.ts`);
  });
});
