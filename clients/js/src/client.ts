/** The client: one WebSocket, many concurrent requests, reconnects by itself. */

import {
  ClientClosed, ConnectionLost, RequestTimeout, RpcError, errorFrom,
} from "./errors.js";
import type {
  Goal, Json, Lorebook, Persona, PersonaEvent, Position, SwitchResult, Trigger, TurnResult,
  WorldEventResult,
} from "./types.js";

/** The part of the WHATWG WebSocket this client uses (browsers, Node >= 22, the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface Logger {
  warn(message: string, ...rest: unknown[]): void;
  info?(message: string, ...rest: unknown[]): void;
  debug?(message: string, ...rest: unknown[]): void;
}

export interface ClientOptions {
  /** API key, sent with `session.authenticate` after every (re)connect. */
  apiKey?: string;
  /** Reconnect when the socket drops (default true). */
  reconnect?: boolean;
  /** Per request, in milliseconds (default 60000). */
  requestTimeout?: number;
  /** For opening the socket, in milliseconds (default 10000). */
  connectTimeout?: number;
  /** Backoff: the first delay and the ceiling, in milliseconds (defaults 200 and 10000). */
  backoffInitial?: number;
  backoffMax?: number;
  /** At most this many requests on the wire; more wait for a slot (default 256). */
  maxInFlight?: number;
  /** A WebSocket implementation (default: the global one, else the `ws` package). */
  WebSocket?: WebSocketConstructor;
  /** With the `ws` package: offer permessage-deflate (default false: on small JSON-RPC frames
   * it costs more CPU, on both sides, than it saves; browsers decide for themselves). */
  compression?: boolean;
  logger?: Logger;
}

export interface CallOptions {
  timeout?: number;
}

export type EventHandler = (event: PersonaEvent) => void;
export type NotificationHandler = (params: unknown) => void;

const OPEN = 1;
const defaultLogger: Logger = { warn: (...a: unknown[]) => console.warn(...a) };

/** Exponential backoff with jitter: a random delay in [d/2, d], d = initial * 2^attempt. */
export function backoffDelay(attempt: number, initial: number, maximum: number): number {
  const ceiling = Math.min(maximum, initial * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Whether an `event` notification belongs to a subscribed topic pattern (`persona.*`,
 * `persona.alice`, `*`): the server names the primary topic (`persona.<id>`); a subscription
 * may name the same object by slug. */
export function topicMatches(pattern: string, event: PersonaEvent): boolean {
  const topic = String(event.topic ?? "");
  if (pattern === "*" || pattern === topic) return true;
  if (pattern.endsWith(".*") && topic.startsWith(pattern.slice(0, -1))) return true;
  const kind = topic.split(".", 1)[0];
  const data = (event.data ?? {}) as { id?: unknown; slug?: unknown };
  return [data.id, data.slug].some((v) => v !== undefined && v !== null && `${kind}.${v}` === pattern);
}

async function resolveWebSocket(given: WebSocketConstructor | undefined, compression: boolean): Promise<WebSocketConstructor> {
  if (given) return given;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return global;
  const mod = (await import("ws")) as unknown as { default?: unknown; WebSocket?: unknown };
  type WsConstructor = new (url: string, protocols: string[], options: object) => WebSocketLike;
  const Ws = (mod.default ?? mod.WebSocket) as WsConstructor;
  return class extends (Ws as unknown as new (...args: unknown[]) => WebSocketLike) {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols ?? [], { perMessageDeflate: compression });
    }
  } as unknown as WebSocketConstructor;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** A streaming turn: `for await (const delta of stream)`, then `await stream.result()`. The
 * deltas are kept in `index` order (`text` is the reply so far): nothing else is queued. */
export class TurnStream implements AsyncIterable<string> {
  readonly requestId: number;
  conversationId?: string;
  private readonly pieces = new Map<number, string>();
  private wake: (() => void) | null = null;
  private finished = false;
  private readonly promise: Promise<TurnResult>;
  private readonly client: PersonaClient;

  /** @internal */
  constructor(
    client: PersonaClient,
    requestId: number,
    run: (stream: TurnStream) => Promise<TurnResult>,
    private readonly onDelta?: (delta: string, index: number) => void,
  ) {
    this.client = client;
    this.requestId = requestId;
    this.promise = run(this).finally(() => {
      this.finished = true;
      this.notify();
    });
    this.promise.catch(() => undefined); // errors surface through result(), never unhandled
  }

  /** @internal */
  chunk(params: { index?: unknown; delta?: unknown; conversation_id?: unknown }): void {
    const { index, delta } = params;
    if (typeof index !== "number" || typeof delta !== "string") {
      this.client.logger.warn("personamcp: ignoring a malformed conversation.chunk", params);
      return;
    }
    if (typeof params.conversation_id === "string") this.conversationId = params.conversation_id;
    if (this.pieces.has(index)) return;
    this.pieces.set(index, delta);
    try {
      this.onDelta?.(delta, index);
    } catch (error) {
      this.client.logger.warn("personamcp: an onDelta handler failed", error);
    }
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** The reply assembled so far. */
  get text(): string {
    return [...this.pieces.keys()].sort((a, b) => a - b).map((k) => this.pieces.get(k)).join("");
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    let i = 0;
    for (;;) {
      while (this.pieces.has(i)) yield this.pieces.get(i++) as string;
      if (this.finished) {
        const rest = [...this.pieces.keys()].filter((k) => k > i).sort((a, b) => a - b);
        for (const k of rest) yield this.pieces.get(k) as string;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** The turn result; rejects with `Cancelled` after a cancel. */
  result(): Promise<TurnResult> {
    return this.promise;
  }

  /** Ask the server to stop this reply; `result()` then rejects with `Cancelled`. */
  cancel(): Promise<boolean> {
    return this.client.cancel(this.requestId);
  }
}

export class Subscription {
  /** @internal */
  constructor(
    private readonly client: PersonaClient,
    readonly topics: string[],
    readonly handler: EventHandler,
  ) {}

  unsubscribe(): Promise<void> {
    return this.client.unsubscribe(this);
  }
}

/**
 * A Persona-MCP client over one WebSocket.
 *
 * `await PersonaClient.connect(url, { apiKey })` connects and authenticates. When the socket
 * drops, the client reconnects with exponential backoff and jitter, authenticates again,
 * switches back to the active persona and subscribes again. Requests in flight when it drops
 * reject with `ConnectionLost`; requests made while it reconnects wait (within their timeout).
 */
export class PersonaClient {
  readonly url: string;
  readonly logger: Logger;
  scopes: string[] = [];
  activePersona: string | null = null;
  /** How many times a connection was (re)established. */
  connects = 0;
  private readonly options: Required<Omit<ClientOptions, "apiKey" | "WebSocket" | "logger" | "compression">>;
  private readonly apiKey?: string;
  private Ctor?: WebSocketConstructor;
  private readonly compression: boolean;
  private ws: WebSocketLike | null = null;
  private ready = false;
  private closed = false;
  private fatal: Error | null = null;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private nextId = 1;
  private inFlight = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private readyWaiters: Pending[] = [];
  private readonly pending = new Map<number | string, Pending>();
  private readonly streams = new Map<number, TurnStream>();
  private readonly subs: Subscription[] = [];
  private readonly noteHandlers = new Map<string, NotificationHandler[]>();

  constructor(url: string, options: ClientOptions = {}) {
    this.url = url;
    this.apiKey = options.apiKey;
    this.Ctor = options.WebSocket;
    this.compression = options.compression ?? false;
    this.logger = options.logger ?? defaultLogger;
    this.options = {
      reconnect: options.reconnect ?? true,
      requestTimeout: options.requestTimeout ?? 60000,
      connectTimeout: options.connectTimeout ?? 10000,
      backoffInitial: options.backoffInitial ?? 200,
      backoffMax: options.backoffMax ?? 10000,
      maxInFlight: options.maxInFlight ?? 256,
    };
  }

  /** Create a client and open its first connection. */
  static async connect(url: string, options: ClientOptions = {}): Promise<PersonaClient> {
    return new PersonaClient(url, options).connect();
  }

  /** Open the first connection: rejects when the server cannot be reached or refuses the key. */
  async connect(): Promise<this> {
    this.Ctor = await resolveWebSocket(this.Ctor, this.compression);
    const ws = await this.open();
    try {
      await this.restore();
    } catch (error) {
      this.closed = true;
      ws.close();
      throw error;
    }
    this.setReady();
    return this;
  }

  get connected(): boolean {
    return this.ready && !this.closed;
  }

  /** Close the socket; waiting requests reject with `ClientClosed`. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    if (ws && ws.readyState <= OPEN) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        const previous = ws.onclose;
        ws.onclose = (ev) => {
          clearTimeout(timer);
          previous?.(ev);
          resolve();
        };
        ws.close(1000, "client closed");
      });
    }
    this.failPending(new ClientClosed("client closed"));
    this.wakeReady(new ClientClosed("client closed"));
  }

  private open(): Promise<WebSocketLike> {
    const Ctor = this.Ctor as WebSocketConstructor;
    return new Promise((resolve, reject) => {
      let settled = false;
      const ws = new Ctor(this.url);
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        ws.onclose = null;
        ws.close();
        reject(new ConnectionLost(`could not connect to ${this.url} in time`));
      }, this.options.connectTimeout);
      ws.onopen = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.ws = ws;
        resolve(ws);
      };
      ws.onerror = () => {
        /* a close event follows */
      };
      ws.onmessage = (ev) => this.onFrame(ev.data);
      ws.onclose = (ev) => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          reject(new ConnectionLost(`could not connect to ${this.url} (${ev?.code ?? "?"})`));
          return;
        }
        this.onClosed(ws);
      };
    });
  }

  private async restore(): Promise<void> {
    const opts = { timeout: this.options.requestTimeout, internal: true };
    if (this.apiKey) {
      const auth = (await this.request("session.authenticate", { token: this.apiKey }, opts)) as {
        scopes?: string[];
      };
      this.scopes = auth?.scopes ?? [];
    }
    if (this.activePersona !== null) {
      await this.request("persona.switch", { persona_id: this.activePersona }, opts);
    }
    const topics = this.topics();
    if (topics.length) await this.request("events.subscribe", { topics }, opts);
    this.connects += 1;
  }

  private onClosed(ws: WebSocketLike): void {
    if (ws !== this.ws && this.ws !== null) return;
    this.ws = null;
    this.ready = false;
    this.failPending(new ConnectionLost("the connection closed"));
    if (this.closed || !this.options.reconnect) {
      this.closed = true;
      this.wakeReady(this.fatal ?? new ClientClosed("the connection closed"));
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = backoffDelay(this.attempt++, this.options.backoffInitial, this.options.backoffMax);
    this.logger.info?.(`personamcp: reconnecting in ${Math.round(delay)} ms`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.reconnect();
    }, delay);
  }

  private async reconnect(): Promise<void> {
    if (this.closed) return;
    let ws: WebSocketLike;
    try {
      ws = await this.open();
    } catch (error) {
      this.logger.info?.(`personamcp: reconnect failed: ${String(error)}`);
      this.scheduleReconnect();
      return;
    }
    if (this.closed) {
      // close() came while the socket was opening
      ws.onclose = null;
      ws.close(1000, "client closed");
      return;
    }
    try {
      await this.restore();
    } catch (error) {
      if (error instanceof RpcError) {
        // the key was refused: retrying will not help
        this.logger.warn("personamcp: could not restore the session after reconnecting", error);
        this.fatal = error;
        this.closed = true;
        ws.close();
        this.wakeReady(error);
      } else if (ws.readyState === OPEN) {
        ws.close(); // its close event schedules the next attempt
      }
      return;
    }
    this.attempt = 0;
    this.setReady();
  }

  private setReady(): void {
    this.ready = true;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w.resolve(undefined);
  }

  private wakeReady(error: Error): void {
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w.reject(error);
  }

  private waitReady(): Promise<void> {
    if (this.closed) return Promise.reject(this.fatal ?? new ClientClosed("client closed"));
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this.readyWaiters.push({ resolve: () => resolve(), reject }),
    );
  }

  private failPending(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
  }

  // --- reading ---------------------------------------------------------------------------

  private onFrame(data: unknown): void {
    if (typeof data !== "string") {
      this.logger.warn("personamcp: ignoring a binary frame from the server");
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      this.logger.warn(`personamcp: ignoring a frame that is not JSON: ${data.slice(0, 80)}`);
      return;
    }
    for (const item of Array.isArray(message) ? message : [message]) {
      try {
        this.dispatch(item);
      } catch (error) {
        this.logger.warn("personamcp: error while handling a message from the server", error);
      }
    }
  }

  private dispatch(message: unknown): void {
    if (!message || typeof message !== "object" || Array.isArray(message)) {
      this.logger.warn(`personamcp: ignoring a JSON value that is not a message: ${JSON.stringify(message)}`);
      return;
    }
    const m = message as Record<string, unknown>;
    if ("method" in m) {
      if (!("id" in m)) this.onNotification(String(m.method), m.params);
      else this.logger.warn("personamcp: ignoring a request from the server");
      return;
    }
    const hasResult = "result" in m;
    const hasError = "error" in m;
    if (hasResult === hasError) {
      this.logger.warn("personamcp: ignoring a response with neither or both result/error");
      return;
    }
    const pending = this.pending.get(m.id as number);
    if (!pending) {
      this.logger.warn(`personamcp: ignoring a response for an unknown id: ${JSON.stringify(m.id)}`);
      return;
    }
    this.pending.delete(m.id as number);
    if (hasError) pending.reject(errorFrom(m.error));
    else pending.resolve(m.result);
  }

  private onNotification(method: string, params: unknown): void {
    if (method === "conversation.chunk" && params && typeof params === "object") {
      const p = params as { request_id?: number; index?: unknown; delta?: unknown };
      const stream = this.streams.get(p.request_id as number);
      if (stream) stream.chunk(p);
    } else if (method === "event" && params && typeof params === "object") {
      const event = params as PersonaEvent;
      for (const sub of [...this.subs]) {
        if (sub.topics.some((t) => topicMatches(t, event))) this.runHandler(sub.handler, event);
      }
    }
    for (const handler of this.noteHandlers.get(method) ?? []) this.runHandler(handler, params);
  }

  private runHandler<T>(handler: (value: T) => void, value: T): void {
    try {
      const outcome = handler(value) as unknown;
      if (outcome instanceof Promise) {
        outcome.catch((error) => this.logger.warn("personamcp: a handler failed", error));
      }
    } catch (error) {
      this.logger.warn("personamcp: a handler failed", error);
    }
  }

  // --- requests --------------------------------------------------------------------------

  private acquire(): Promise<void> {
    if (this.inFlight < this.options.maxInFlight) {
      this.inFlight += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private release(): void {
    const next = this.slotWaiters.shift();
    if (next) next();
    else this.inFlight -= 1;
  }

  private request(
    method: string,
    params: unknown,
    opts: { timeout?: number; id?: number; internal?: boolean } = {},
  ): Promise<unknown> {
    const timeout = opts.timeout ?? this.options.requestTimeout;
    const id = opts.id ?? this.nextId++;
    return new Promise((resolve, reject) => {
      let done = false;
      let acquired = false;
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (this.pending.get(id) === entry) this.pending.delete(id);
        if (acquired) this.release();
        settle();
      };
      const entry: Pending = {
        resolve: (value) => finish(() => resolve(value)),
        reject: (error) => finish(() => reject(error)),
      };
      const timer = setTimeout(
        () => finish(() => reject(new RequestTimeout(`${method}: no answer within ${timeout} ms`))),
        timeout,
      );
      const run = async () => {
        if (!opts.internal) {
          await this.acquire();
          if (done) return this.release();
          acquired = true;
          await this.waitReady();
          if (done) return;
        }
        const ws = this.ws;
        if (!ws || ws.readyState !== OPEN) throw new ConnectionLost("not connected");
        const message: Record<string, unknown> = { jsonrpc: "2.0", id, method };
        if (params !== undefined && params !== null) message.params = params;
        this.pending.set(id, entry);
        ws.send(JSON.stringify(message));
      };
      run().catch((error) => entry.reject(error));
    });
  }

  /** Call a method; resolves with its result or rejects with the typed `RpcError` subclass. */
  call<T = Json>(method: string, params?: object, options: CallOptions = {}): Promise<T> {
    return this.request(method, params, options) as Promise<T>;
  }

  /** Send a notification (no answer). */
  async notify(method: string, params?: object): Promise<void> {
    await this.waitReady();
    const message: Record<string, unknown> = { jsonrpc: "2.0", method };
    if (params) message.params = params;
    this.ws?.send(JSON.stringify(message));
  }

  /** Call `handler(params)` for every notification of this method (e.g. `room.message`). */
  onNotificationOf(method: string, handler: NotificationHandler): void {
    const list = this.noteHandlers.get(method) ?? [];
    list.push(handler);
    this.noteHandlers.set(method, list);
  }

  // --- conversation ----------------------------------------------------------------------

  /** Make `persona` (id or slug) the session's active persona; kept across reconnects. */
  async switch(persona: string): Promise<SwitchResult> {
    const result = await this.call<SwitchResult>("persona.switch", { persona_id: persona });
    this.activePersona = persona;
    return result;
  }

  /** One turn. Options are the params of `conversation.send_message` (`persona_id`, `sender`,
   * `context`, `actions_available`...). */
  send(content: string, options: SendOptions = {}): Promise<TurnResult> {
    const { timeout, ...params } = options;
    return this.call<TurnResult>("conversation.send_message", { content, ...params }, { timeout });
  }

  /** A streaming turn (see `TurnStream`); on a timeout the client also cancels it. */
  stream(content: string, options: StreamOptions = {}): TurnStream {
    const { timeout, onDelta, ...params } = options;
    const id = this.nextId++;
    return new TurnStream(
      this,
      id,
      async (stream) => {
        this.streams.set(id, stream);
        try {
          return (await this.request(
            "conversation.send_message",
            { content, ...params, stream: true },
            { timeout, id },
          )) as TurnResult;
        } catch (error) {
          if (error instanceof RequestTimeout) this.cancel(id, { timeout: 5000 }).catch(() => undefined);
          throw error;
        } finally {
          this.streams.delete(id);
        }
      },
      onDelta,
    );
  }

  /** Cancel a streaming request by its id; `true` when it was still running. */
  async cancel(requestId: number | string, options: CallOptions = {}): Promise<boolean> {
    const result = await this.call<{ cancelled: boolean }>(
      "conversation.cancel", { request_id: requestId }, options,
    );
    return Boolean(result.cancelled);
  }

  // --- events ----------------------------------------------------------------------------

  private topics(): string[] {
    return [...new Set(this.subs.flatMap((s) => s.topics))].sort();
  }

  /** Call `handler(event)` for each event on these topics; kept across reconnects. */
  async subscribe(topics: string | string[], handler: EventHandler): Promise<Subscription> {
    const list = typeof topics === "string" ? [topics] : [...topics];
    const sub = new Subscription(this, list, handler);
    this.subs.push(sub);
    try {
      await this.call("events.subscribe", { topics: list });
    } catch (error) {
      this.subs.splice(this.subs.indexOf(sub), 1);
      throw error;
    }
    return sub;
  }

  async unsubscribe(sub: Subscription): Promise<void> {
    const at = this.subs.indexOf(sub);
    if (at >= 0) this.subs.splice(at, 1);
    const still = new Set(this.topics());
    const gone = sub.topics.filter((t) => !still.has(t));
    if (gone.length) await this.call("events.unsubscribe", { topics: gone });
  }

  // --- thin typed wrappers ---------------------------------------------------------------

  ping(): Promise<{ pong: boolean; time: string }> { return this.call("system.ping"); }
  info(): Promise<Json> { return this.call("system.info"); }
  sessionInfo(): Promise<Json> { return this.call("session.info"); }
  personaGet(personaId: string): Promise<Persona> { return this.call("persona.get", { persona_id: personaId }); }
  personaList(params: object = {}): Promise<{ personas: Persona[]; next_cursor: string | null }> {
    return this.call("persona.list", params);
  }
  personaCreate(fields: { name: string } & Record<string, unknown>): Promise<Persona> {
    return this.call("persona.create", fields);
  }
  personaUpdate(personaId: string, fields: Record<string, unknown>): Promise<Persona> {
    return this.call("persona.update", { persona_id: personaId, ...fields });
  }
  personaDelete(personaId: string): Promise<{ deleted: boolean }> {
    return this.call("persona.delete", { persona_id: personaId });
  }
  personaState(personaId?: string): Promise<Json> { return this.call("persona.state", opt({ persona_id: personaId })); }
  memoryStore(content: string, options: object = {}): Promise<Json> { return this.call("memory.store", { content, ...options }); }
  memorySearch(query: string, options: object = {}): Promise<Json> { return this.call("memory.search", { query, ...options }); }
  relationshipGet(otherId: string, personaId?: string): Promise<Json> {
    return this.call("relationship.get", opt({ other_id: otherId, persona_id: personaId }));
  }
  history(conversationId: string, options: object = {}): Promise<{ messages: Array<Record<string, Json>> }> {
    return this.call("conversation.history", { conversation_id: conversationId, ...options });
  }

  // v1.1: game worlds
  worldEvent(event: WorldEvent): Promise<WorldEventResult> { return this.call("world.event", opt(event)); }
  sceneMove(roomId: string, entityId: string, position: Position): Promise<Json> {
    return this.call("scene.move", { room_id: roomId, entity_id: entityId, position });
  }
  triggerCreate(trigger: { persona_id: string; name: string; when: object; then: object; once?: boolean }): Promise<Trigger> {
    return this.call("trigger.create", opt(trigger));
  }
  triggerList(personaId?: string): Promise<{ triggers: Trigger[] }> { return this.call("trigger.list", opt({ persona_id: personaId })); }
  triggerDelete(triggerId: string): Promise<{ deleted: boolean }> { return this.call("trigger.delete", { trigger_id: triggerId }); }
  goalSet(personaId: string, goal: unknown, fields: object = {}): Promise<Goal> {
    return this.call("goal.set", { persona_id: personaId, goal, ...fields });
  }
  goalList(personaId: string): Promise<{ goals: Goal[] }> { return this.call("goal.list", { persona_id: personaId }); }
  goalComplete(personaId: string, goal: unknown, fields: object = {}): Promise<Goal> {
    return this.call("goal.complete", { persona_id: personaId, goal, ...fields });
  }

  // v1.1: lorebooks
  lorebookList(where: { persona_id?: string; room_id?: string } = {}): Promise<{ lorebooks: Lorebook[] }> {
    return this.call("lorebook.list", opt(where));
  }
  lorebookGet(lorebookId: string): Promise<Lorebook> { return this.call("lorebook.get", { lorebook_id: lorebookId }); }
  lorebookCreate(name: string, entries: object[], options: object = {}): Promise<Lorebook> {
    return this.call("lorebook.create", { name, entries, ...options });
  }
  lorebookUpdate(lorebookId: string, fields: object): Promise<Lorebook> {
    return this.call("lorebook.update", { lorebook_id: lorebookId, ...fields });
  }
  lorebookDelete(lorebookId: string): Promise<{ deleted: boolean }> { return this.call("lorebook.delete", { lorebook_id: lorebookId }); }
  lorebookAttach(lorebookId: string, to: { persona_id?: string; room_id?: string }): Promise<Lorebook> {
    return this.call("lorebook.attach", opt({ lorebook_id: lorebookId, ...to }));
  }
  lorebookDetach(lorebookId: string, from: { persona_id?: string; room_id?: string }): Promise<Lorebook> {
    return this.call("lorebook.detach", opt({ lorebook_id: lorebookId, ...from }));
  }
  lorebookImport(data: object, name?: string): Promise<Lorebook> { return this.call("lorebook.import", opt({ data, name })); }
  lorebookExport(lorebookId: string, format?: "worldinfo" | "character_book"): Promise<{ data: Json }> {
    return this.call("lorebook.export", opt({ lorebook_id: lorebookId, format }));
  }
}

export interface SendOptions {
  persona_id?: string;
  sender?: string;
  sender_name?: string;
  conversation_id?: string;
  context?: Record<string, unknown>;
  actions_available?: Array<{ name: string; description?: string; parameters?: object }>;
  position?: Position;
  timeout?: number;
  [param: string]: unknown;
}

export interface StreamOptions extends SendOptions {
  /** Called with each delta as it arrives (besides the async iterator). */
  onDelta?: (delta: string, index: number) => void;
}

export interface WorldEvent {
  type: string;
  description: string;
  persona_id?: string;
  room_id?: string;
  actor?: string;
  target?: string;
  position?: Position;
  data?: Record<string, unknown>;
  importance?: number;
}

function opt<T extends object>(params: T): T {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as T;
}


