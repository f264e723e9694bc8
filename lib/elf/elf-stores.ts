import path from 'node:path';
import { InvalidInputError } from '../errors.js';
import { ElfMemory, type ElfMemoryOptions } from './elf-memory.js';

export const DEFAULT_CLIENT_ID = 'default';
export const CLIENT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/i;

/**
 * A client id as it names a database file: checked against `CLIENT_ID_PATTERN` and lower-cased,
 * so `Acme` and `acme` are one client on every file system. Absent or empty means `default`.
 */
export function normalizeClientId(value: unknown): string {
  if (value === undefined || value === null || value === '') return DEFAULT_CLIENT_ID;
  if (typeof value !== 'string' || !CLIENT_ID_PATTERN.test(value)) {
    const shown = typeof value === 'string' ? `'${value.slice(0, 80)}'` : typeof value;
    throw new InvalidInputError(`client_id must be 1 to 64 letters, digits, '_' or '-', starting with a letter or digit; got ${shown}`);
  }
  return value.toLowerCase();
}

export interface ElfStoresOptions extends ElfMemoryOptions {
  /** When given, only these clients are served; any other is refused as unknown. */
  allowedClients?: readonly string[];
}

/**
 * One `ElfMemory` per client, opened on first use: client A's memory lives in another file than
 * client B's, so nothing one learns can reach the other.
 */
export class ElfStores {
  private readonly memories = new Map<string, ElfMemory>();
  private readonly allowed: ReadonlySet<string> | undefined;
  private readonly dir: string;
  private readonly memoryOptions: ElfMemoryOptions;

  /** `dir` holds the databases, one `<client>.sqlite` per client. */
  constructor(dir: string, options: ElfStoresOptions = {}) {
    const { allowedClients, ...memoryOptions } = options;
    this.dir = path.resolve(dir);
    this.memoryOptions = memoryOptions;
    this.allowed = allowedClients === undefined ? undefined : new Set(allowedClients.map((id) => normalizeClientId(id)));
  }

  /** The memory of `clientId` (default `default`); opens its database the first time. */
  get(clientId?: unknown): ElfMemory {
    const id = normalizeClientId(clientId);
    if (this.allowed && !this.allowed.has(id)) {
      throw new InvalidInputError(`client_id '${id}' is an unknown client: this ELF serves ${[...this.allowed].join(', ') || 'no client'}`);
    }
    let memory = this.memories.get(id);
    if (!memory) {
      memory = ElfMemory.open(this.fileOf(id), this.memoryOptions);
      this.memories.set(id, memory);
    }
    return memory;
  }

  fileOf(clientId: string): string {
    return path.join(this.dir, `${normalizeClientId(clientId)}.sqlite`);
  }

  /** Ids of the clients whose database is open. */
  openClients(): string[] {
    return [...this.memories.keys()];
  }

  closeAll(): void {
    for (const memory of this.memories.values()) memory.close();
    this.memories.clear();
  }
}
