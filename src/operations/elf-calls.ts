import type { ElfClient } from '../../lib/elf/elf-client.js';
import type { ElfOp } from '../../lib/elf/elf-protocol.js';
import type { Injection } from '../../lib/elf/elf-types.js';
import { DanError } from '../../lib/errors.js';

/** One request to the ELF memory on behalf of one client, as `dan elf` and the HTTP API make them. */
export type ElfCall = <T>(op: ElfOp, args?: Record<string, unknown>) => Promise<T>;

/**
 * Calls into `client`'s memory through `elf`. No answer in time means no ELF process serves this Redis
 * and prefix: `elf_not_running`, saying how to start it.
 */
export function elfCall(elf: ElfClient, client: string, timeoutMs: number): ElfCall {
  return async <T>(op: ElfOp, args: Record<string, unknown> = {}) => {
    try {
      return await elf.call<T>(op, args, { clientId: client, timeoutMs });
    } catch (error) {
      if (error instanceof DanError && error.code === 'elf_timeout') {
        throw new DanError('elf_not_running', `the ELF memory is not running (no answer to '${op}' within ${timeoutMs} ms): 'dan up' starts it unless DAN_ELF=off`);
      }
      throw error;
    }
  };
}

/** The exact memory text each worker of a task was given, oldest first (`dan elf injections`, `GET /jobs/{id}/lessons`). */
export function taskLessons(call: ElfCall, taskId: string): Promise<Injection[]> {
  return call<Injection[]>('injections', { task_id: taskId });
}
