/**
 * The slice of the Anthropic Messages API the network speaks, as our own types, so that nothing
 * outside the Anthropic adapter imports the SDK. Field names match the wire format exactly.
 */
export interface CacheControl {
  type: 'ephemeral';
}

export interface TextBlock {
  type: 'text';
  text: string;
  cache_control?: CacheControl;
}

export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export interface ToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content: string;
  is_error?: boolean;
  cache_control?: CacheControl;
}

export type ContentBlock = TextBlock | ToolUseBlock | ToolResultBlock;

export interface Message {
  role: 'user' | 'assistant';
  content: string | ContentBlock[];
}

export interface ToolDefinition {
  name: string;
  description: string;
  input_schema: { type: 'object'; properties: Record<string, unknown>; required?: string[] };
  cache_control?: CacheControl;
}

export interface LlmRequest {
  model: string;
  max_tokens: number;
  system?: TextBlock[];
  messages: Message[];
  tools?: ToolDefinition[];
  temperature?: number;
  /** Free-form tag (worker name, router) that shows in the mock server's recording and in logs. */
  metadata?: { user_id?: string };
}

export interface LlmUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal' | null;

export interface LlmResponse {
  id: string;
  model: string;
  role: 'assistant';
  content: (TextBlock | ToolUseBlock)[];
  stop_reason: StopReason;
  usage: LlmUsage;
}

export interface LlmCallOptions {
  signal?: AbortSignal;
  /** The task and worker the call is for, sent to the model gateway so it can price the call to them and hold it to the task's budget. */
  attribution?: { taskId: string; worker: string };
}

/** Text of every text block of a response, joined. */
export function responseText(response: LlmResponse): string {
  return response.content
    .filter((block): block is TextBlock => block.type === 'text')
    .map((block) => block.text)
    .join('');
}
