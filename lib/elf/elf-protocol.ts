import { z } from 'zod';

/** Operations the ELF memory answers on the bus. */
export const ELF_OPS = [
  'context', 'injections', 'search', 'stats', 'heuristics', 'golden', 'hotspots',
  'record_heuristic', 'validate', 'violate', 'contradict', 'record_outcome', 'record_plan', 'record_postmortem', 'query',
  'approve', 'reject',
] as const;
export type ElfOp = (typeof ELF_OPS)[number];

/** A request, pushed onto `dan:elf:requests`; the reply is published on `reply_to`. */
export const elfRequestSchema = z.object({
  id: z.string().min(1).max(100),
  op: z.enum(ELF_OPS),
  client_id: z.string().default('default'),
  args: z.record(z.string(), z.unknown()).default({}),
  reply_to: z.string().min(1),
  /** Epoch ms after which the caller no longer waits: ELF skips a request that old. */
  deadline: z.number().optional(),
});
export type ElfRequest = z.infer<typeof elfRequestSchema>;

/** The reply: `ok` with a result, or an error with the code and message of the `DanError` behind it. */
export type ElfReply =
  | { id: string; ok: true; result: unknown }
  | { id: string; ok: false; error: { code: string; message: string } };

/** What a worker gets before it runs. */
export interface ElfContext {
  text: string;
  heuristicIds: number[];
  tokens: number;
}
