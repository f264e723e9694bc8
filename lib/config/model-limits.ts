import { z } from 'zod';

/** What one model may take per window of the shared rate limit (0: no limit of that kind). */
export interface ModelLimits {
  /** Requests per window. */
  rpm: number;
  /** Input tokens per window (plain input and cache writes; cache reads are free, as the API counts them). */
  inputTpm: number;
  /** Output tokens per window, counted at `max_tokens` until the call's real usage settles it. */
  outputTpm: number;
}

const limit = z.number().int().nonnegative().max(1e12);
const entry = z.strictObject({ rpm: limit.optional(), input_tpm: limit.optional(), output_tpm: limit.optional() });
const table = z.record(z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/), entry);

/**
 * DAN_MODEL_LIMITS: per model id, the limits that differ from DAN_MODEL_RPM, DAN_MODEL_INPUT_TPM and
 * DAN_MODEL_OUTPUT_TPM, as JSON (`{"claude-opus-5-5":{"rpm":50,"input_tpm":30000}}`). Unset or empty:
 * none. A string is what is wrong with it.
 */
export function parseModelLimits(text: string | undefined): Record<string, Partial<ModelLimits>> | string {
  if (text === undefined || text.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'must be JSON such as {"claude-opus-5-5":{"rpm":50,"input_tpm":30000,"output_tpm":8000}}';
  }
  const parsed = table.safeParse(json);
  if (!parsed.success) {
    const problem = parsed.error.issues[0];
    return `${problem?.path.join('.') || 'value'}: ${problem?.message ?? 'invalid'}; write {"<model id>":{"rpm":N,"input_tpm":N,"output_tpm":N}} with whole numbers >= 0`;
  }
  const out: Record<string, Partial<ModelLimits>> = {};
  for (const [model, l] of Object.entries(parsed.data)) {
    out[model] = {
      ...(l.rpm === undefined ? {} : { rpm: l.rpm }),
      ...(l.input_tpm === undefined ? {} : { inputTpm: l.input_tpm }),
      ...(l.output_tpm === undefined ? {} : { outputTpm: l.output_tpm }),
    };
  }
  return out;
}
