import { InvalidInputError } from '../errors.js';

/**
 * A REDIS_URL that reaches Redis through Sentinel:
 * `redis+sentinel://[user:password@]host1[:26379][,host2[:26379]...]/mastername[/db][?sentinel_username=U&sentinel_password=P]`.
 * The form the redis-py world uses (Redis-Sentinel-Url, RedisVL, Prefect), so one URL can serve
 * tools on either side. The user and password authenticate to the master (the Redis ACL user, as in
 * a `redis://` URL); `sentinel_username`/`sentinel_password` authenticate to the Sentinels, which
 * keep their own users. Without them the Sentinels are asked without AUTH.
 */
export const SENTINEL_SCHEME = 'redis+sentinel:';
export const SENTINEL_DEFAULT_PORT = 26379;

export interface SentinelAddress {
  host: string;
  port: number;
}

export interface SentinelTarget {
  sentinels: SentinelAddress[];
  /** The master group's name, as in the Sentinels' `sentinel monitor NAME ...`. */
  name: string;
  db: number;
  username?: string;
  password?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
}

const FORM = "'redis+sentinel://[user:password@]host1:26379,host2:26379/mastername'";

/** Whether `url` names Redis through Sentinel (the scheme alone decides). */
export function isSentinelUrl(url: string): boolean {
  return url.trim().toLowerCase().startsWith(`${SENTINEL_SCHEME}//`);
}

/** The parts of a Sentinel URL; an `InvalidInputError` naming the form when one is missing or wrong. */
export function parseSentinelUrl(url: string): SentinelTarget {
  const bad = (what: string) => new InvalidInputError(`REDIS_URL: ${what}; a Sentinel URL reads ${FORM}`);
  const match = /^redis\+sentinel:\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(url.trim());
  if (!match) throw bad('not a Sentinel URL');
  const [, auth, hostList = '', path = '', query = ''] = match;
  const sentinels = hostList.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '').map((entry) => {
    const hostPort = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(entry);
    if (!hostPort) throw bad(`'${entry}' is not host or host:port`);
    const port = hostPort[2] === undefined ? SENTINEL_DEFAULT_PORT : Number(hostPort[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`port of '${entry}' is not 1-65535`);
    return { host: (hostPort[1] ?? '').replace(/^\[(.*)\]$/, '$1'), port };
  });
  if (sentinels.length === 0) throw bad('no Sentinel host is given');
  const [name = '', dbText, ...rest] = path.replace(/^\//, '').split('/');
  if (name === '') throw bad('the master name is missing after the hosts');
  if (rest.length > 0 || (dbText !== undefined && !/^\d+$/.test(dbText))) throw bad(`'${path}' is not /mastername or /mastername/db`);
  const params = new URLSearchParams(query);
  for (const key of params.keys()) {
    if (key !== 'sentinel_username' && key !== 'sentinel_password') throw bad(`unknown option '${key}' (sentinel_username and sentinel_password are known)`);
  }
  const [user = '', password] = (auth ?? '').split(/:(.*)/s);
  const decode = (text: string | undefined) => (text === undefined || text === '' ? undefined : decodeURIComponent(text));
  return {
    sentinels,
    name: decodeURIComponent(name),
    db: dbText === undefined ? 0 : Number(dbText),
    ...optional('username', decode(user)),
    ...optional('password', decode(password)),
    ...optional('sentinelUsername', params.get('sentinel_username') ?? undefined),
    ...optional('sentinelPassword', params.get('sentinel_password') ?? undefined),
  };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined || value === '' ? {} : ({ [key]: value } as Record<K, string>);
}

/** The URL of `target`: what `parseSentinelUrl` reads back as the same target. */
export function formatSentinelUrl(target: SentinelTarget): string {
  const enc = encodeURIComponent;
  const auth = target.username || target.password ? `${enc(target.username ?? '')}${target.password ? `:${enc(target.password)}` : ''}@` : '';
  const hosts = target.sentinels.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',');
  const params = new URLSearchParams();
  if (target.sentinelUsername) params.set('sentinel_username', target.sentinelUsername);
  if (target.sentinelPassword) params.set('sentinel_password', target.sentinelPassword);
  const query = params.size > 0 ? `?${params.toString()}` : '';
  return `redis+sentinel://${auth}${hosts}/${enc(target.name)}${target.db ? `/${target.db}` : ''}${query}`;
}

/** The passwords a REDIS_URL holds (master and Sentinel), for log redaction; none when it is no URL. */
export function redisUrlPasswords(url: string): string[] {
  try {
    if (isSentinelUrl(url)) {
      const target = parseSentinelUrl(url);
      return [target.password, target.sentinelPassword].filter((p): p is string => p !== undefined);
    }
    const password = new URL(url).password;
    return password ? [decodeURIComponent(password), password] : [];
  } catch {
    return [];
  }
}
