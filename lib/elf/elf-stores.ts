import path from 'node:path';
import { InvalidInputError } from '../errors.js';
import { normalizeClientId } from '../protocol/client-id.js';
import { ElfMemory, type ElfMemoryOptions } from './elf-memory.js';

export { CLIENT_ID_PATTERN, DEFAULT_CLIENT_ID, normalizeClientId } from '../protocol/client-id.js';

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
