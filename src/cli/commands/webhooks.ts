import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { DanError, ExitCode } from '../../../lib/errors.js';
import { WebhookStore } from '../../../lib/redis/webhooks.js';
import { WEBHOOK_EVENTS } from '../../../lib/webhooks/webhook-rules.js';
import { addWebhook, webhookJson } from '../../operations/webhooks.js';
import type { GlobalArgs } from '../cli-context.js';
import { cliContext, cliRedis, printJson } from '../cli-context.js';
import { COMMAND_HEADINGS } from '../command-headings.js';

interface WebhookArgs extends GlobalArgs {
  url?: string;
  id?: string;
  events?: string[];
  client?: string;
}

async function withStore(argv: ArgumentsCamelCase<WebhookArgs>, run: (store: WebhookStore, json: boolean) => Promise<void>): Promise<void> {
  const ctx = cliContext(argv);
  const { redis, keys } = await cliRedis(ctx);
  try {
    await run(new WebhookStore(redis, keys), ctx.json);
  } finally {
    redis.disconnect();
  }
}

const add: CommandModule<GlobalArgs, WebhookArgs> = {
  command: 'add <url>',
  describe: 'Add a webhook; its signing secret is printed this once',
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .positional('url', { type: 'string', demandOption: true, describe: 'http(s) URL that receives a signed POST per event' })
    .option('events', { type: 'string', array: true, choices: WEBHOOK_EVENTS, describe: 'Which events (default: all)' })
    .option('client', { type: 'string', describe: "Only this client's tasks (default: every client's)" }) as Argv<WebhookArgs>,
  handler: (argv) => withStore(argv, async (store, json) => {
    const created = await addWebhook(store, { url: String(argv.url), ...(argv.events ? { events: argv.events.map(String) } : {}), ...(argv.client ? { client: argv.client } : {}) });
    if (json) printJson(created);
    else {
      process.stdout.write(`${created.secret}\n`);
      process.stderr.write(`webhook ${created.id} -> ${created.url} (${created.events.join(', ')}); the secret above signs every delivery and is shown this once\n`);
    }
  }),
};

const list: CommandModule<GlobalArgs, WebhookArgs> = {
  command: 'list',
  describe: 'List the webhooks: id, URL, events, client (never their secrets)',
  handler: (argv) => withStore(argv, async (store, json) => {
    const all = (await store.list()).map(webhookJson);
    if (json) { printJson(all); return; }
    if (all.length === 0) { process.stdout.write("no webhooks ('dan webhooks add <url>' adds one)\n"); return; }
    for (const h of all) process.stdout.write(`${h.id}  ${h.url}  ${h.events.join(',')}  ${h.client ?? '(every client)'}  ${h.created_at}\n`);
  }),
};

const remove: CommandModule<GlobalArgs, WebhookArgs> = {
  command: 'remove <id>',
  describe: 'Remove a webhook and its delivery log',
  builder: (yargs: Argv<GlobalArgs>) => yargs.positional('id', { type: 'string', demandOption: true, describe: 'Webhook id (dan webhooks list)' }) as Argv<WebhookArgs>,
  handler: (argv) => withStore(argv, async (store, json) => {
    if (!(await store.remove(String(argv.id)))) throw new DanError('not_found', `no webhook '${argv.id}' (see 'dan webhooks list')`, { exitCode: ExitCode.usage });
    if (json) printJson({ id: argv.id, removed: true });
    else process.stdout.write(`removed webhook ${argv.id}\n`);
  }),
};

const log: CommandModule<GlobalArgs, WebhookArgs> = {
  command: 'log <id>',
  describe: "A webhook's latest deliveries, newest first: status, attempts, HTTP status, last error",
  builder: (yargs: Argv<GlobalArgs>) => yargs.positional('id', { type: 'string', demandOption: true, describe: 'Webhook id' }) as Argv<WebhookArgs>,
  handler: (argv) => withStore(argv, async (store, json) => {
    const id = String(argv.id);
    if (await store.get(id) === undefined) throw new DanError('not_found', `no webhook '${id}' (see 'dan webhooks list')`, { exitCode: ExitCode.usage });
    const entries = await store.log(id);
    if (json) { printJson(entries); return; }
    if (entries.length === 0) { process.stdout.write('no deliveries yet\n'); return; }
    for (const e of entries) {
      process.stdout.write(`${e.at}  ${e.status.padEnd(9)} ${e.event.padEnd(22)} ${e.task_id}  attempts ${e.attempts}  ${e.http_status ?? '-'}${e.last_error ? `  ${e.last_error}` : ''}\n`);
    }
  }),
};

/** `dan webhooks`: URLs told of task state changes, signed, retried, logged. */
export const webhooksCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  ...COMMAND_HEADINGS.webhooks,
  builder: (yargs: Argv<GlobalArgs>) => yargs
    .command(add as never).command(list as never).command(remove as never).command(log as never)
    .demandCommand(1, 'name a webhooks command: add, list, remove or log; see dan webhooks --help'),
  handler: () => undefined,
};
