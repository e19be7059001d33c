/** Result shapes of the Persona-MCP protocol (docs/protocol.md); extra fields are kept. */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Position { x: number; y: number; z?: number }

export interface Persona {
  id: string;
  slug: string;
  name: string;
  description: string;
  personality: Record<string, number>;
  tags: string[];
  [field: string]: unknown;
}

export interface SwitchResult { persona: Persona; conversation_id: string | null }

export interface TurnResult {
  response: string;
  conversation_id: string;
  message_id: number;
  persona_id: string;
  emotion: string;
  memories_used: Array<{ id: string; score: number }>;
  usage: { prompt_tokens: number; completion_tokens: number };
  timing: Record<string, number | null>;
  /** v1.1 */
  actions?: Array<{ name: string; arguments: Record<string, unknown> }>;
  expression?: { emotion: string; intensity: number; gesture?: string };
  triggers_fired?: unknown[];
  lore_used?: Array<{ lorebook_id: string; entry_id: string; keys_matched: string[] }>;
  [field: string]: unknown;
}

export interface PersonaEvent {
  topic: string;
  type: string;
  data: Record<string, unknown>;
  at: string;
}

export interface WorldEventResult {
  event_id: string;
  perceived_by: Array<{ persona_id: string; memory_id: string; mood: number; emotion: string; relationship?: unknown }>;
  triggers_fired: unknown[];
}

export interface Trigger { id: string; [field: string]: unknown }
export interface Goal { id: string; [field: string]: unknown }
export interface Lorebook { id: string; name: string; entries: object[]; [field: string]: unknown }
