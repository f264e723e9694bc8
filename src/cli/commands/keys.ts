import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { Config } from '../../../lib/config.js';
import { ExitCode, DanError } from '../../../lib/errors.js';
import type { ApiRole } from '../../../lib/redis/api-keys.js';
import { API_ROLES, ApiKeys } from '../../../lib/redis/api-keys.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, printJson } from '../cli-context.js';
import { apiKeyJson, createApiKey } from '../../operations/api-key-access.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface KeysArgs extends GlobalArgs {
  client?: string;
  role?: ApiRole;
  id?: string;
  rpm?: number;
  maxInFlight?: number;
}

async function withKeys(argv: ArgumentsCamelCase<KeysArgs>, run: (keys: ApiKeys, json: boolean, config: Config) => Promise<void>): Promise<void> {
  const ctx = cliContext(argv);
  const { redis, keys } = await cliRedis(ctx);
  try {
    await run(new ApiKeys(redis, keys), ctx.json, ctx.config);
  } finally {
    redis.disconnect();
  }
}

const create: CommandModule<GlobalArgs, KeysArgs> = {
  command: 'create',
  describe: 'Make a key for a client; it is printed this once (only its hash is kept)',
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .option('client', { type: 'string', demandOption: true, describe: "The client whose jobs the key sends and sees (1-64 of a-z 0-9 _ -)" })
    .option('role', { choices: API_ROLES, default: 'submit' as ApiRole, describe: "read: GETs; submit: also send and cancel jobs; approve: also approve and reject jobs; admin: everything; metrics: only GET /metrics (Prometheus' scrape credential)" })
    .option('rpm', { type: 'number', describe: 'Requests per minute the key may make (0: no limit; default DAN_API_RATE_PER_MINUTE)' })
    .option('max-in-flight', { type: 'number', describe: 'Jobs of the key not yet ended (0: no limit; default DAN_API_MAX_IN_FLIGHT)' }) as Argv<KeysArgs>,
  handler: (argv) => withKeys(argv, async (keys, json, config) => {
    const limits = { ...(argv.rpm !== undefined ? { ratePerMinute: argv.rpm } : {}), ...(argv.maxInFlight !== undefined ? { maxInFlight: argv.maxInFlight } : {}) };
    const created = await createApiKey(keys, config, String(argv.client), argv.role ?? 'submit', limits);
    if (json) printJson(created);
    else {
      process.stdout.write(`${created.key}\n`);
      process.stderr.write(`key ${created.id} for client ${created.client} (role ${created.role}); shown this once: store it now (revoke with 'dan keys revoke ${created.id}')\n`);
    }
  }),
};

const list: CommandModule<GlobalArgs, KeysArgs> = {
  command: 'list',
  describe: 'List the keys: id, client, role, created (never the keys)',
  handler: (argv) => withKeys(argv, async (keys, json) => {
    const all = await keys.list();
    if (json) {
      printJson(all.map(apiKeyJson));
      return;
    }
    if (all.length === 0) {
      process.stdout.write("no API keys: dan serve answers anyone, on loopback only ('dan keys create --client <name>' makes one)\n");
      return;
    }
    process.stdout.write(`${'ID'.padEnd(14)} ${'CLIENT'.padEnd(24)} ${'ROLE'.padEnd(8)} CREATED\n`);
    for (const k of all) process.stdout.write(`${k.id.padEnd(14)} ${k.client.padEnd(24)} ${k.role.padEnd(8)} ${new Date(k.createdAt).toISOString()}\n`);
  }),
};

const revoke: CommandModule<GlobalArgs, KeysArgs> = {
  command: 'revoke <id>',
  describe: 'Revoke a key by its id (dan keys list): its next request gets 401, on every dan serve',
  builder: (yargs: Argv<GlobalArgs>) => yargs.positional('id', { type: 'string', demandOption: true, describe: 'The key id, or enough of its start to name one' }) as Argv<KeysArgs>,
  handler: (argv) => withKeys(argv, async (keys, json) => {
    const revoked = await keys.revoke(String(argv.id));
    if (revoked === undefined) throw new DanError('not_found', `no key with id '${argv.id}' (see 'dan keys list')`, { exitCode: ExitCode.usage });
    if (json) printJson({ id: revoked.id, client: revoked.client, role: revoked.role, revoked: true });
    else process.stdout.write(`revoked key ${revoked.id} of client ${revoked.client}\n`);
  }),
};

/** `dan keys`: the HTTP API's keys and the clients they stand for. */
export const keysCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  ...COMMAND_HEADINGS.keys,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .command(create as never)
    .command(list as never)
    .command(revoke as never)
    .demandCommand(1, 'name a keys command: create, list or revoke; see dan keys --help'),
  handler: () => undefined,
};
