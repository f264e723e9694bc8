import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { TASK_ID_RULE_TEXT, taskIdLuaCheck } from '../../protocol/task.js';
import { luaKeyTable } from '../keys.js';
import { metricsLuaConstants } from '../metric-buckets.js';
import type { LuaSegment } from '../lua-script.js';
import { countLines, mapLuaError } from '../lua-script.js';

/** A value passed to a script in ARGV. */
export type LuaArg = string | number | Buffer;

/** The folder of the queue's `.lua` files, next to this module (`npm run build` copies them to dist). */
const LUA_DIR = new URL('./', import.meta.url);

/**
 * A script kept in its own `.lua` file. The file name ends in its number of KEYS (`claim-12.lua`), so a
 * reader of the file knows how many keys its caller passes; the names of keys and arguments are
 * declared here once, and the script reads its arguments by name from the generated table `A`
 * (`A.leaseMs`), so no caller or script counts ARGV positions.
 */
export interface LuaFileSpec<K extends string, A extends string> {
  file: string;
  /** KEYS in order, read in the script as `K.<name>`; the file's header says what each is. */
  keys: readonly K[];
  /** ARGV in order, read in the script as `A.<name>`; `rest` values follow them (from ARGV[REST]). */
  args: readonly A[];
  /** Prepends the generated `KEY` table of per-id and per-domain keys, under the `keyPrefix` argument. */
  keyTable?: boolean;
  /** Prepends `common.lua` (its helpers use `KEY`, so this implies `keyTable`). */
  common?: boolean;
  /** Folder of the file; default: the queue's own scripts (lib/redis/lua). */
  dir?: URL;
}

/** One call's keys and arguments, by name. */
export interface LuaCall<K extends string, A extends string> {
  keys: Record<K, string>;
  args: Record<A, LuaArg>;
  /** Values after the named arguments (a list of ids and tokens, say). */
  rest?: readonly LuaArg[];
}

/**
 * A `.lua` file with its generated preamble, run by its SHA (EVALSHA), loaded on first use and again
 * after a Redis restart (NOSCRIPT), so each call sends the hash, not the source. The source was
 * assembled from several pieces; `segments` say which, so a Redis error names the file and line.
 */
export class LuaFileScript<K extends string, A extends string> {
  readonly source: string;
  readonly sha: string;
  readonly segments: readonly LuaSegment[];

  constructor(readonly spec: LuaFileSpec<K, A>) {
    const declared = /-(\d+)\.lua$/.exec(spec.file);
    if (!declared || Number(declared[1]) !== spec.keys.length) {
      throw new Error(`Lua script ${spec.file} is declared with ${spec.keys.length} keys: name the file <name>-${spec.keys.length}.lua`);
    }
    const withTable = spec.keyTable === true || spec.common === true;
    if (withTable && !spec.args.includes('keyPrefix' as A)) {
      throw new Error(`Lua script ${spec.file} uses the key table: declare a 'keyPrefix' argument`);
    }
    const body: { name: string; text: string }[] = [];
    if (spec.common === true) body.push({ name: 'common.lua', text: readLua(LUA_DIR, 'common.lua') });
    body.push({ name: spec.file, text: readLua(spec.dir ?? LUA_DIR, spec.file) });
    const pieces = [{ name: `${spec.file} (generated preamble)`, text: preamble(spec.keys, spec.args, withTable, keysUsed(body.map((p) => p.text).join('\n')), spec.common === true) }, ...body];
    this.segments = pieces.map((p) => ({ name: p.name, lines: countLines(p.text) }));
    this.source = pieces.map((p) => p.text).join('\n');
    this.sha = createHash('sha1').update(this.source).digest('hex');
  }

  /** KEYS and ARGV in the declared order. */
  build(call: LuaCall<K, A>): { keys: string[]; args: LuaArg[] } {
    const all = this.commandArgs(call);
    const count = this.spec.keys.length;
    return { keys: all.slice(1, 1 + count) as string[], args: all.slice(1 + count) };
  }

  /**
   * EVALSHA's arguments after the SHA: the number of keys, the keys, the arguments, filled into one
   * array (every queue step and API request runs a script: no intermediate arrays and spreads).
   */
  private commandArgs(call: LuaCall<K, A>): LuaArg[] {
    const { keys, args } = this.spec;
    const out: LuaArg[] = [keys.length];
    for (const k of keys) out.push(call.keys[k]);
    for (const a of args) out.push(call.args[a]);
    if (call.rest !== undefined) for (const r of call.rest) out.push(r);
    return out;
  }

  async run(redis: Redis, call: LuaCall<K, A>): Promise<unknown> {
    const args = this.commandArgs(call);
    try {
      try {
        return await redis.evalsha(this.sha, ...(args as [number, ...LuaArg[]]));
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
          return await redis.eval(this.source, ...(args as [number, ...LuaArg[]]));
        }
        throw error;
      }
    } catch (error) {
      if (error instanceof Error && error.message.includes('user_script:')) error.message = mapLuaError(error.message, this.segments);
      throw error;
    }
  }
}

/** Reads a script file without its final newline, so joined pieces keep their line numbers. */
function readLua(dir: URL, file: string): string {
  const url = new URL(file, dir);
  try {
    return readFileSync(url, 'utf8').replace(/\n$/, '');
  } catch (error) {
    throw new Error(`cannot read the Lua script ${url.pathname} (${(error as Error).message}): run 'npm run build', which copies the .lua files to dist/`);
  }
}

/**
 * The key functions a script's text calls (`KEY.result(id)`), so its preamble builds only those: the
 * table is built anew on every call, and the finish script runs once per task. A script that indexes
 * the table by a computed name (`KEY[name]`) gets all of them (undefined: no filter).
 */
function keysUsed(text: string): ReadonlySet<string> | undefined {
  if (/\bKEY\s*\[/.test(text)) return undefined;
  return new Set([...text.matchAll(/\bKEY\.([A-Za-z_]\w*)/g)].map((m) => m[1] as string));
}

function preamble(keys: readonly string[], args: readonly string[], keyTable: boolean, keyNames: ReadonlySet<string> | undefined, common: boolean): string {
  const lines = [
    `local K = { ${keys.map((name, i) => `${name} = KEYS[${i + 1}]`).join(', ')} }`,
    `local A = { ${args.map((name, i) => `${name} = ARGV[${i + 1}]`).join(', ')} }`,
    `local REST = ${args.length + 1}`,
  ];
  if (keyTable) {
    lines.push(luaKeyTable('A.keyPrefix', keyNames));
    // Ids become parts of key names: the rule of lib/protocol/task.ts, generated from its definition.
    lines.push(`local function valid_task_id(id) return ${taskIdLuaCheck('id')} end`);
    // JSON string syntax is Lua's for this ASCII text.
    lines.push(`local TASK_ID_RULE_TEXT = ${JSON.stringify(TASK_ID_RULE_TEXT)}`);
  }
  // common.lua counts every task end for /metrics and /history in the buckets lib/redis/metric-buckets.ts defines.
  if (common) lines.push(metricsLuaConstants());
  return lines.join('\n');
}
