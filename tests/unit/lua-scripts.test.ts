import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isFailureCode } from '../../lib/protocol/failure.js';
import { isValidTaskId, parseTask, taskIdProblem, TASK_ID_RULE_TEXT, wireTaskSchema } from '../../lib/protocol/task.js';
import { Keys } from '../../lib/redis/keys.js';
import { LuaFileScript } from '../../lib/redis/lua/lua-file-script.js';
import { locateLuaLine, mapLuaError } from '../../lib/redis/lua-script.js';
import { TASK_ID_TABLE } from '../support/task-id-table.js';

// Every .lua file under lib/ (the queue's and the registry's in lib/redis/lua, the farm's in lib/farm/lua).
const libDir = new URL('../../lib/', import.meta.url);
const luaFiles = readdirSync(libDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.lua'));
const luaDeclarations = readdirSync(libDir, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => readFileSync(new URL(f, libDir), 'utf8'))
  .join('\n');

describe('the task id rule', () => {
  it('is the same in the check, the wire schema and the parser', () => {
    for (const { id, valid } of TASK_ID_TABLE) {
      expect(isValidTaskId(id), id).toBe(valid);
      expect(wireTaskSchema.safeParse({ task_id: id }).success, id).toBe(valid);
      expect(taskIdProblem(id) === undefined, id).toBe(valid);
    }
  });

  it('refuses a task whose id breaks it as a whole, naming no result to write', () => {
    const outcome = parseTask(JSON.stringify({ task_id: 'x:logs', type: 'echo' }));
    expect(outcome).toEqual({ kind: 'malformed', reason: expect.stringContaining(TASK_ID_RULE_TEXT), taskId: undefined });
    expect(taskIdProblem('k'.repeat(3000))).toContain('(3000 characters)');
  });
});

describe('Lua error locations', () => {
  const segments = [{ name: 'claim-12.lua (generated preamble)', lines: 3 }, { name: 'common.lua', lines: 10 }, { name: 'claim-12.lua', lines: 50 }];

  it('maps a line of the sent text to the piece it came from', () => {
    expect(locateLuaLine(segments, 2)).toBe('claim-12.lua (generated preamble):2');
    expect(locateLuaLine(segments, 4)).toBe('common.lua:1');
    expect(locateLuaLine(segments, 14)).toBe('claim-12.lua:1');
    expect(locateLuaLine(segments, 40)).toBe('claim-12.lua:27');
  });

  it('rewrites every user_script:<line> of a Redis error', () => {
    const message = 'ERR user_script:40: attempt to index a nil value script: abc, on @user_script:40.';
    expect(mapLuaError(message, segments)).toBe('ERR claim-12.lua:27: attempt to index a nil value script: abc, on @claim-12.lua:27.');
  });
});

describe('the Lua scripts', () => {
  it('write only failure codes that lib/protocol/failure.ts lists', () => {
    const written: string[] = [];
    for (const file of luaFiles) {
      const text = readFileSync(new URL(file, libDir), 'utf8');
      for (const m of text.matchAll(/failure\('([^']*)'\)|code\s*=\s*'([^']*)'|'(invalid_task|queue_full|lease_expired|cancelled)'/g)) {
        written.push(m[1] ?? m[2] ?? m[3] ?? '');
      }
    }
    expect(written).toEqual(expect.arrayContaining(['invalid_task', 'queue_full', 'lease_expired', 'cancelled']));
    expect(written.filter((code) => !isFailureCode(code))).toEqual([]);
  });

  it('never spell a key name: keys come in KEYS or from the generated key table', () => {
    for (const file of luaFiles) {
      const code = readFileSync(new URL(file, libDir), 'utf8').split('\n').filter((line) => !line.trimStart().startsWith('--')).join('\n');
      expect(code, file).not.toMatch(/'(tasks|results|dan|agents|notifications|farm):|\.\. ':(logs|seen|chunk|lock)'|prefix \.\./i);
    }
  });

  it('are each declared once with as many keys as their file name says', () => {
    expect(luaFiles.length).toBeGreaterThan(0);
    for (const path of luaFiles) {
      const file = path.split('/').pop() ?? path;
      if (file === 'common.lua') continue;
      const declared = new RegExp(`file: '${file.replace(/\./g, '\\.')}'`, 'g');
      expect(luaDeclarations.match(declared)?.length, `${path} is declared in a LuaFileScript`).toBe(1);
      expect(file, path).toMatch(/-\d+\.lua$/);
    }
  });

  it('take their keys and arguments by name, in the declared order', () => {
    const script = new LuaFileScript({ file: 'reclaim-5.lua', keys: ['result', 'pending', 'notifications', 'children', 'jobs'], args: ['taskId', 'raw', 'domain', 'parentId', 'childrenTtlMs'] });
    const keys = new Keys('p:');
    expect(script.build({
      keys: { children: keys.children('t'), notifications: keys.notifications('d'), pending: keys.pending('d'), result: keys.result('t'), jobs: keys.jobs('c') },
      args: { childrenTtlMs: 5, parentId: '', domain: 'd', raw: '{}', taskId: 't' },
    })).toEqual({ keys: ['p:results:t', 'p:tasks:pending:d', 'p:notifications:d', 'p:dan:children:t', 'p:dan:jobs:c'], args: ['t', '{}', 'd', '', 5] });
  });

  it('refuse a file whose name does not say its number of keys', () => {
    expect(() => new LuaFileScript({ file: 'reclaim-5.lua', keys: ['one'], args: [] })).toThrow(/name the file <name>-1\.lua/);
  });
});
