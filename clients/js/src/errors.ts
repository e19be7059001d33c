/** Typed errors: one class per JSON-RPC error code of the Persona-MCP protocol. */

export class PersonaMCPError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The socket closed while the request waited for its answer; the client reconnects. */
export class ConnectionLost extends PersonaMCPError {}
/** The client was closed. */
export class ClientClosed extends PersonaMCPError {}
/** No answer within the request timeout. */
export class RequestTimeout extends PersonaMCPError {}

/** An error response: `code`, `message` and `data` as the server sent them. */
export class RpcError extends PersonaMCPError {
  static readonly CODE: number = 0;
  readonly code: number;
  readonly rpcMessage: string;
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(`${message} (${code})`);
    this.code = code;
    this.rpcMessage = message;
    this.data = data;
  }
}

export class ParseError extends RpcError { static override readonly CODE = -32700; }
export class InvalidRequest extends RpcError { static override readonly CODE = -32600; }
export class MethodNotFound extends RpcError { static override readonly CODE = -32601; }
export class InvalidParams extends RpcError {
  static override readonly CODE = -32602;
  /** `[{field, message}]`: each bad field. */
  get errors(): Array<{ field: string; message: string }> {
    const data = this.data as { errors?: Array<{ field: string; message: string }> } | undefined;
    return data?.errors ?? [];
  }
}
export class InternalError extends RpcError { static override readonly CODE = -32603; }
export class PersonaNotFound extends RpcError { static override readonly CODE = -32001; }
export class NoActivePersona extends RpcError { static override readonly CODE = -32002; }
export class ConversationNotFound extends RpcError { static override readonly CODE = -32003; }
export class MemoryNotFound extends RpcError { static override readonly CODE = -32004; }
export class RoomNotFound extends RpcError { static override readonly CODE = -32005; }
export class BotNotFound extends RpcError { static override readonly CODE = -32006; }
export class LLMUnavailable extends RpcError { static override readonly CODE = -32010; }
export class LLMTimeout extends RpcError { static override readonly CODE = -32011; }
export class Unauthenticated extends RpcError { static override readonly CODE = -32020; }
export class Forbidden extends RpcError { static override readonly CODE = -32021; }
export class RateLimited extends RpcError {
  static override readonly CODE = -32029;
  get retryAfter(): number | undefined {
    const value = (this.data as { retry_after?: number } | undefined)?.retry_after;
    return value === undefined ? undefined : Number(value);
  }
}
export class Busy extends RpcError { static override readonly CODE = -32030; }
export class Cancelled extends RpcError { static override readonly CODE = -32031; }
export class Conflict extends RpcError { static override readonly CODE = -32040; }

type ErrorClass = new (code: number, message: string, data?: unknown) => RpcError;

export const ERRORS: ReadonlyMap<number, ErrorClass> = new Map<number, ErrorClass>(
  [
    ParseError, InvalidRequest, MethodNotFound, InvalidParams, InternalError, PersonaNotFound,
    NoActivePersona, ConversationNotFound, MemoryNotFound, RoomNotFound, BotNotFound,
    LLMUnavailable, LLMTimeout, Unauthenticated, Forbidden, RateLimited, Busy, Cancelled, Conflict,
  ].map((cls) => [cls.CODE, cls]),
);

/** The typed error for a JSON-RPC `error` object (`RpcError` for codes it does not know). */
export function errorFrom(error: unknown): RpcError {
  const e = (error && typeof error === "object" ? error : {}) as {
    code?: unknown; message?: unknown; data?: unknown;
  };
  const code = typeof e.code === "number" ? e.code : 0;
  const cls = ERRORS.get(code) ?? RpcError;
  return new cls(code, typeof e.message === "string" ? e.message : "error", e.data);
}
