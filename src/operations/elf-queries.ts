import type { ElfClient } from '../../lib/elf/elf-client.js';
import type { ElfOp } from '../../lib/elf/elf-protocol.js';
import type { ElfStats, Heuristic, Hotspot, Injection, SearchResult } from '../../lib/elf/elf-types.js';
import { DanError } from '../../lib/errors.js';

/**
 * The read-only questions `dan elf` and the HTTP API (/elf/...) ask the ELF memory, one function each,
 * so both send the same request and answer the same JSON. The memory is reached over Redis (requests on
 * `dan:elf:requests`, replies on the caller's channel): only the elf domain opens the databases.
 */

/** One request to the memory of the client it was made for; resolves with the memory's answer. */
export type ElfCall = <T>(op: ElfOp, args?: Record<string, unknown>) => Promise<T>;

/**
 * Calls into `client` for `clientId`'s memory. No answer within `timeoutMs` means no ELF process serves
 * this Redis and prefix: `elf_not_running`, with how to start it, rather than a wait without end.
 */
export function elfCall(client: ElfClient, clientId: string, timeoutMs: number): ElfCall {
  return async <T>(op: ElfOp, args: Record<string, unknown> = {}): Promise<T> => {
    try {
      return await client.call<T>(op, args, { clientId, timeoutMs });
    } catch (error) {
      if (error instanceof DanError && error.code === 'elf_timeout') {
        throw new DanError('elf_not_running', `the ELF memory is not running (no answer to '${op}' within ${timeoutMs} ms): 'dan up' starts it unless DAN_ELF=off`);
      }
      throw error;
    }
  };
}

/** What most listings may be narrowed by: one domain, and at most `limit` entries. */
export interface ElfFilters {
  domain?: string | undefined;
  limit?: number | undefined;
}

const filterArgs = (f: ElfFilters): Record<string, unknown> => ({ ...(f.domain ? { domain: f.domain } : {}), ...(f.limit !== undefined ? { limit: f.limit } : {}) });

/** `dan elf stats`: counts of the memory, and the client it is. */
export function elfStats(call: ElfCall): Promise<ElfStats & { client_id: string }> {
  return call('stats');
}

/** `dan elf heuristics`: `all` adds the dormant ones; `candidates` lists only those awaiting approval. */
export function elfHeuristics(call: ElfCall, f: ElfFilters & { all?: boolean | undefined; candidates?: boolean | undefined }): Promise<Heuristic[]> {
  return call('heuristics', { ...filterArgs(f), ...(f.all ? { include_dormant: true } : {}), ...(f.candidates ? { state: 'candidate' } : {}) });
}

/** `dan elf golden`: the golden rules. */
export function elfGolden(call: ElfCall, f: ElfFilters): Promise<Heuristic[]> {
  return call('golden', filterArgs(f));
}

/** `dan elf search`: heuristics (candidates included, marked) and past tasks matching `text`. */
export function elfSearch(call: ElfCall, text: string, f: ElfFilters): Promise<SearchResult> {
  return call('search', { text, ...filterArgs(f), include_candidates: true });
}

/** `dan elf hotspots`: files by trail strength, of one repository when `repository` is given ('' for tasks that named none). */
export function elfHotspots(call: ElfCall, f: ElfFilters & { repository?: string | undefined }): Promise<Hotspot[]> {
  return call('hotspots', { ...filterArgs(f), ...(f.repository !== undefined ? { repository: f.repository } : {}) });
}

/** `dan elf injections <task>`: the memory text each worker of a task was given, and the heuristics in it. */
export function elfInjections(call: ElfCall, taskId: string): Promise<Injection[]> {
  return call('injections', { task_id: taskId });
}
