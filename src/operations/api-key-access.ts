import type { Config } from '../../lib/config.js';
import { InvalidInputError } from '../../lib/errors.js';
import { DEFAULT_CLIENT_ID, normalizeClientId } from '../../lib/protocol/client-id.js';
import type { ApiKey, ApiKeyLimits, ApiKeys, ApiRole } from '../../lib/redis/api-keys.js';

/** A key as `dan keys list --json` and GET /keys show it: never the key itself. */
export function apiKeyJson(k: ApiKey) {
  return { id: k.id, client: k.client, role: k.role, rpm: k.ratePerMinute ?? null, max_in_flight: k.maxInFlight ?? null, created_at: new Date(k.createdAt).toISOString() };
}

/**
 * Makes a key for `client` as `dan keys create` and POST /keys both do, refusing a client the network
 * does not serve (DAN_CLIENTS): its jobs would all be dead-lettered. Resolves with what both answer;
 * `key` is shown this once, only its hash is kept.
 */
export async function createApiKey(keys: ApiKeys, config: Pick<Config, 'clients'>, client: string, role: ApiRole, limits: ApiKeyLimits) {
  const name = normalizeClientId(client);
  if (config.clients !== undefined && name !== DEFAULT_CLIENT_ID && !config.clients.includes(name)) {
    throw new InvalidInputError(`client '${name}' is not one DAN_CLIENTS lists (${config.clients.join(', ') || 'none'}): its jobs would be dead-lettered; add it to DAN_CLIENTS first`);
  }
  const { key, record } = await keys.create(name, role, limits);
  return { id: record.id, client: record.client, role: record.role, rpm: record.ratePerMinute ?? null, max_in_flight: record.maxInFlight ?? null, key };
}
