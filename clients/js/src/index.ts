/** Persona-MCP client for browsers and Node >= 18:
 * `const c = await PersonaClient.connect(url, { apiKey }); await c.send("hi", { persona_id: "alice" })`. */
export * from "./errors.js";
export * from "./types.js";
export {
  PersonaClient, TurnStream, Subscription, backoffDelay, topicMatches,
} from "./client.js";
export type {
  CallOptions, ClientOptions, EventHandler, Logger, NotificationHandler, SendOptions,
  StreamOptions, WebSocketConstructor, WebSocketLike, WorldEvent,
} from "./client.js";
