// Persona-MCP web chat: one small ES module, no build step, no dependencies.
// Everything goes over the JSON-RPC WebSocket at /mcp (see docs/protocol.md): persona.list,
// persona.switch, conversation.send_message (stream: true), persona.state, relationship.get,
// events.subscribe. The staff session cookie authenticates the socket.

const config = JSON.parse(document.getElementById("chat-config").textContent);

const ERROR_TEXT = {
  "-32001": "This persona no longer exists.",
  "-32002": "No persona is selected.",
  "-32010": "The language model is unavailable right now. Try again in a moment.",
  "-32011": "The language model took too long to answer. Try again.",
  "-32020": "You are not signed in (or your session expired).",
  "-32021": "You are not allowed to talk to this persona.",
  "-32029": "Too many messages: slow down a little.",
  "-32030": "This persona is still answering the previous message.",
  "-32031": "The reply was stopped.",
};

/** An error answered by the server (or a lost connection), with its JSON-RPC code. */
class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

/** A JSON-RPC 2.0 client over one WebSocket that reconnects by itself. */
class RpcSocket {
  constructor(url, { onOpen, onClose, onNotification }) {
    this.url = url;
    this.onOpen = onOpen;
    this.onClose = onClose;
    this.onNotification = onNotification;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, onChunk}
    this.ws = null;
    this.retry = 0;
    this.timer = null;
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.timer);
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.retry = 0;
      this.onOpen();
    });
    ws.addEventListener("message", (event) => this.receive(event.data));
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const [, call] of this.pending) {
        call.reject(new RpcError("disconnected", "The connection to the server was lost."));
      }
      this.pending.clear();
      // Back off from a quarter second up to 5 s, with jitter so that many tabs do not
      // hammer a restarting server in step.
      const delay = Math.min(5000, 250 * 1.5 ** this.retry) * (0.8 + Math.random() * 0.4);
      this.retry += 1;
      this.onClose(event, delay);
      this.timer = setTimeout(() => this.connect(), delay);
    });
  }

  /** Reconnect now instead of waiting for the back-off timer. */
  reconnectNow() {
    if (this.ws === null) this.connect();
  }

  receive(text) {
    let messages;
    try {
      messages = JSON.parse(text);
    } catch {
      return;
    }
    for (const message of Array.isArray(messages) ? messages : [messages]) {
      if (message.method && message.id === undefined) {
        if (message.method === "conversation.chunk") {
          const call = this.pending.get(message.params.request_id);
          if (call && call.onChunk) call.onChunk(message.params);
        } else {
          this.onNotification(message.method, message.params || {});
        }
        continue;
      }
      const call = this.pending.get(message.id);
      if (!call) continue;
      this.pending.delete(message.id);
      if (message.error) {
        const { code, message: msg, data } = message.error;
        call.reject(new RpcError(code, msg, data));
      } else {
        call.resolve(message.result);
      }
    }
  }

  /** Call a method; ``onChunk`` receives conversation.chunk params for this request. */
  call(method, params = {}, { onChunk, onId } = {}) {
    if (!this.open) {
      return Promise.reject(new RpcError("disconnected", "Not connected to the server."));
    }
    const id = this.nextId++;
    if (onId) onId(id);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onChunk });
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }
}

// --- small DOM helpers -------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function initials(name) {
  const words = (name || "?").replace(/[^\p{L}\p{N}\s]/gu, " ").trim().split(/\s+/);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : words[0].slice(0, 2);
  return (letters || "?").toUpperCase();
}

function hue(text) {
  let h = 0;
  for (const ch of text || "") h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

function avatar(persona, size = "small") {
  if (persona.avatar_url) {
    return el("img", { class: `avatar avatar-${size}`, src: persona.avatar_url, alt: "" });
  }
  return el("span", {
    class: `avatar avatar-${size} avatar-initials`,
    style: `--avatar-hue: ${hue(persona.slug)}`,
    "aria-hidden": "true",
    text: initials(persona.name),
  });
}

const pct = (value, min, max) => Math.round(((value - min) / (max - min)) * 100);
const signed = (value) => (value > 0 ? "+" : "") + Number(value).toFixed(2);
const words = (text) => String(text || "").replaceAll("_", " ");

function moodWord(mood) {
  if (mood <= -0.6) return "very low";
  if (mood <= -0.2) return "low";
  if (mood < 0.2) return "steady";
  if (mood < 0.6) return "good";
  return "great";
}

/** A labelled horizontal gauge (ARIA meter); signed gauges fill from the middle. */
function gauge(field, label, value, { min = 0, max = 1, text } = {}) {
  const id = `gauge-${field}`;
  const shown = text ?? (min < 0 ? signed(value) : `${pct(value, 0, 1)}%`);
  const fill = el("span", { class: "gauge-fill" });
  if (min < 0) {
    const zero = pct(0, min, max);
    const at = pct(value, min, max);
    fill.style.left = `${Math.min(zero, at)}%`;
    fill.style.width = `${Math.abs(at - zero)}%`;
    fill.classList.add(value < 0 ? "negative" : "positive");
  } else {
    fill.style.left = "0";
    fill.style.width = `${pct(value, min, max)}%`;
  }
  return el(
    "div",
    { class: "gauge-row", "data-field": field, "data-value": value },
    el("span", { class: "gauge-label", id: `${id}-label`, text: label }),
    el(
      "span",
      {
        class: `gauge${min < 0 ? " gauge-signed" : ""}`,
        role: "meter",
        "aria-labelledby": `${id}-label`,
        "aria-valuemin": min,
        "aria-valuemax": max,
        "aria-valuenow": value,
        "aria-valuetext": shown,
      },
      fill,
    ),
    el("span", { class: "gauge-value", text: shown }),
  );
}

// --- the page ----------------------------------------------------------------------------

const ui = {
  status: $("conn-status"),
  list: $("persona-list"),
  search: $("persona-search"),
  header: $("persona-header"),
  transcript: $("transcript"),
  form: $("composer"),
  input: $("message-input"),
  send: $("send-button"),
  stop: $("stop-button"),
  insight: $("insight-body"),
  errorBanner: $("error-banner"),
  errorText: $("error-text"),
};

const state = {
  personas: [],
  current: null, // the selected Persona
  subscribed: null, // the topic subscribed for it
  mood: null, // persona.state result
  relationship: null, // relationship.get result
  streaming: null, // {id, bubble} while a reply is being generated
  connected: false,
  selecting: 0, // generation counter: ignore answers for an older selection
};

const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${config.ws_path}`;
const rpc = new RpcSocket(wsUrl, {
  onOpen: connected,
  onClose: disconnected,
  onNotification: notified,
});

function setStatus(kind, text) {
  ui.status.dataset.state = kind;
  ui.status.querySelector(".conn-text").textContent = text;
}

function showError(error, context) {
  const code = error instanceof RpcError ? String(error.code) : "";
  let text = ERROR_TEXT[code] || error.message || String(error);
  const data = (error && error.data) || {};
  if (code === "-32029" && data.retry_after) {
    text += ` Try again in ${Math.ceil(data.retry_after)} s.`;
  } else if (code === "-32602" && Array.isArray(data.errors)) {
    text = data.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
  } else if (code === "-32603") {
    text = "The server hit an internal error.";
    if (data.correlation_id) text += ` Reference: ${data.correlation_id}.`;
  }
  if (context) text = `${context}: ${text}`;
  ui.errorText.replaceChildren(text);
  if (code === "-32020") {
    ui.errorText.append(" ", el("a", { href: config.login_url, text: "Log in again" }));
  }
  ui.errorBanner.dataset.code = code;
  ui.errorBanner.hidden = false;
}

function clearError() {
  ui.errorBanner.hidden = true;
  ui.errorText.replaceChildren();
  delete ui.errorBanner.dataset.code;
}

function updateComposer() {
  const ready = state.connected && state.current !== null;
  ui.input.disabled = !ready;
  ui.send.disabled = !ready || state.streaming !== null;
  ui.stop.hidden = state.streaming === null;
  ui.input.placeholder = state.current
    ? `Message ${state.current.name}`
    : "Pick a persona first";
}

// --- connection lifecycle --------------------------------------------------------------

async function connected() {
  state.connected = true;
  state.subscribed = null;
  ui.status.dataset.connections = String(Number(ui.status.dataset.connections || 0) + 1);
  setStatus("online", "Connected");
  if (ui.errorBanner.dataset.code === "disconnected") clearError();
  updateComposer();
  await loadPersonas();
  const wanted = state.current ? state.current.slug : decodeURIComponent(location.hash.slice(1));
  const persona = state.personas.find((p) => p.slug === wanted || p.id === wanted);
  if (persona) await selectPersona(persona, { focus: false });
}

function disconnected(event, delay) {
  // A reply being streamed fails through its rejected call (see sendMessage); after the
  // reconnection the history shows what the server kept of it.
  state.connected = false;
  const seconds = Math.round(delay / 1000) || 1;
  const why = event.code === 4403 ? "Refused by the server (origin not allowed)" : "Disconnected";
  setStatus("offline", `${why}, reconnecting in ${seconds} s…`);
  updateComposer();
}

// --- personas ----------------------------------------------------------------------------

async function loadPersonas() {
  try {
    const result = await rpc.call("persona.list", { limit: 200 });
    state.personas = result.personas;
    renderPersonaList();
  } catch (error) {
    ui.list.replaceChildren(el("li", { class: "muted", text: "Could not load personas." }));
    showError(error, "Loading personas");
  } finally {
    ui.list.removeAttribute("aria-busy");
  }
}

function renderPersonaList() {
  const query = ui.search.value.trim().toLowerCase();
  const shown = state.personas.filter(
    (p) =>
      !query ||
      p.name.toLowerCase().includes(query) ||
      p.slug.includes(query) ||
      (p.description || "").toLowerCase().includes(query) ||
      (p.tags || []).some((t) => t.toLowerCase().includes(query)),
  );
  if (shown.length === 0) {
    const text = state.personas.length ? "No persona matches." : "No personas yet.";
    ui.list.replaceChildren(el("li", { class: "muted", text }));
    return;
  }
  ui.list.replaceChildren(
    ...shown.map((p) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            class: "persona-item",
            "data-slug": p.slug,
            "aria-pressed": state.current && state.current.id === p.id ? "true" : "false",
            onclick: () => selectPersona(p),
          },
          avatar(p),
          el(
            "span",
            { class: "persona-text" },
            el("span", { class: "persona-name", text: p.name }),
            el("span", { class: "persona-desc", text: p.description || "" }),
          ),
        ),
      ),
    ),
  );
}

function renderHeader(persona) {
  const tags = (persona.tags || []).map((t) => el("li", { class: "tag", text: t }));
  ui.header.replaceChildren(
    avatar(persona, "large"),
    el(
      "div",
      { class: "persona-header-text" },
      el("h2", { id: "persona-title", text: persona.name }),
      persona.description ? el("p", { class: "persona-description", text: persona.description }) : null,
      tags.length ? el("ul", { class: "tags", "aria-label": "Tags" }, tags) : null,
    ),
  );
  ui.header.dataset.slug = persona.slug;
}

async function selectPersona(persona, { focus = true } = {}) {
  const generation = ++state.selecting;
  clearError();
  state.current = persona;
  state.mood = null;
  state.relationship = null;
  history.replaceState(null, "", `#${encodeURIComponent(persona.slug)}`);
  renderPersonaList();
  ui.list.querySelector('[aria-pressed="true"]')?.scrollIntoView({ block: "nearest" });
  renderHeader(persona);
  renderInsight();
  ui.transcript.replaceChildren();
  ui.transcript.setAttribute("aria-busy", "true");
  updateComposer();
  try {
    const switched = await rpc.call("persona.switch", { persona_id: persona.id });
    if (generation !== state.selecting) return;
    state.current = switched.persona;
    renderHeader(switched.persona);
    await subscribe(switched.persona);
    let messages = [];
    if (switched.conversation_id) {
      const past = await rpc.call("conversation.history", {
        conversation_id: switched.conversation_id,
        limit: 50,
      });
      messages = past.messages;
    }
    if (generation !== state.selecting) return;
    renderTranscript(switched.persona, messages);
    await refreshInsight(generation);
  } catch (error) {
    if (generation === state.selecting) showError(error, `Opening ${persona.name}`);
  } finally {
    if (generation === state.selecting) ui.transcript.removeAttribute("aria-busy");
  }
  if (focus && generation === state.selecting && !ui.input.disabled) ui.input.focus();
}

async function subscribe(persona) {
  const topic = `persona.${persona.slug}`;
  if (state.subscribed === topic) return;
  if (state.subscribed) {
    await rpc.call("events.unsubscribe", { topics: [state.subscribed] }).catch(() => {});
  }
  await rpc.call("events.subscribe", { topics: [topic] });
  state.subscribed = topic;
}

// --- transcript --------------------------------------------------------------------------

function renderTranscript(persona, messages) {
  const items = [];
  state.greetingIndex = null;
  state.fresh = messages.length === 0;
  if (messages.length === 0 && persona.greeting) {
    const greeting = bubble("assistant", persona.name, persona.greeting, "greeting");
    items.push(greeting);
    offerGreetings(persona, greeting);
  }
  for (const m of messages) {
    const who = m.role === "user" ? m.speaker || config.participant_name : persona.name;
    const item = bubble(m.role, who, m.content, m.status);
    if (m.status === "cancelled") item.append(el("p", { class: "msg-note", text: "(stopped)" }));
    if (m.status === "failed") item.append(el("p", { class: "msg-note", text: "(failed)" }));
    items.push(item);
  }
  ui.transcript.replaceChildren(...items);
  scrollToEnd();
}

function bubble(role, speaker, text, status = "complete") {
  return el(
    "li",
    { class: `msg msg-${role}`, "data-role": role, "data-state": status },
    el("p", { class: "msg-speaker", text: speaker }),
    el("div", { class: "msg-body", text }),
  );
}

function finishBubble(item, status, note) {
  item.dataset.state = status;
  if (note) item.append(el("p", { class: "msg-note", text: note }));
}

function scrollToEnd() {
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
}

// A card's alternate greetings: pick the one that opens a new conversation (greeting_index).
async function offerGreetings(persona, greetingBubble) {
  let card;
  try {
    card = (await rpc.call("persona.export", { persona_id: persona.id, format: "ccv3" })).card;
  } catch {
    return;
  }
  const alternates = (card?.data?.alternate_greetings || []).filter((g) => g);
  if (!alternates.length || state.current?.id !== persona.id || !state.fresh) return;
  const options = [persona.greeting, ...alternates];
  const select = el(
    "select",
    { id: "greeting-select", "aria-label": "Greeting" },
    ...options.map((text, i) =>
      el("option", { value: String(i), text: i === 0 ? "Greeting" : `Alternate greeting ${i}` }),
    ),
  );
  select.addEventListener("change", () => {
    state.greetingIndex = Number(select.value);
    greetingBubble.querySelector(".msg-body").textContent = options[state.greetingIndex];
  });
  greetingBubble.append(select);
}

// Drop a card (.png, .charx, .json) anywhere on the page to import it (staff or dev mode only:
// the page is served to nobody else).
function base64Of(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

async function importCard(file) {
  clearError();
  const buffer = await file.arrayBuffer();
  const head = new Uint8Array(buffer.slice(0, 4));
  let params;
  if (head[0] === 0x89 && head[1] === 0x50) params = { png_base64: base64Of(buffer) };
  else if (head[0] === 0x50 && head[1] === 0x4b) params = { charx_base64: base64Of(buffer) };
  else {
    try {
      params = { card: JSON.parse(new TextDecoder().decode(buffer)) };
    } catch {
      showError(new Error("not a card: drop a .png, .charx or .json file"), "Importing a card");
      return;
    }
  }
  try {
    const persona = await rpc.call("persona.import", params);
    await loadPersonas();
    const listed = state.personas.find((p) => p.id === persona.id) || persona;
    await selectPersona(listed);
  } catch (error) {
    showError(error, `Importing ${file.name}`);
  }
}

document.addEventListener("dragover", (event) => {
  if (event.dataTransfer?.types?.includes("Files")) {
    event.preventDefault();
    document.body.dataset.dropping = "true";
  }
});
document.addEventListener("dragleave", () => {
  delete document.body.dataset.dropping;
});
document.addEventListener("drop", (event) => {
  const file = event.dataTransfer?.files?.[0];
  if (!file) return;
  event.preventDefault();
  delete document.body.dataset.dropping;
  importCard(file);
});

async function sendMessage(text) {
  const persona = state.current;
  if (!persona || state.streaming || !text.trim()) return;
  clearError();
  ui.transcript.append(bubble("user", config.participant_name, text));
  const reply = bubble("assistant", persona.name, "", "streaming");
  reply.dataset.chunks = "0";
  reply.setAttribute("aria-busy", "true");
  const body = reply.querySelector(".msg-body");
  body.append(el("span", { class: "typing", "aria-label": `${persona.name} is typing` }));
  ui.transcript.append(reply);
  scrollToEnd();
  state.streaming = { id: null, bubble: reply };
  updateComposer();
  ui.input.value = "";
  const generation = state.selecting;
  // the first message of a new conversation carries the chosen greeting
  const opening = state.fresh && state.greetingIndex ? { greeting_index: state.greetingIndex } : {};
  state.fresh = false;
  try {
    const result = await rpc.call(
      "conversation.send_message",
      {
        content: text,
        persona_id: persona.id,
        sender: config.participant_id,
        sender_name: config.participant_name,
        stream: true,
        ...opening,
      },
      {
        onId: (id) => {
          state.streaming.id = id;
        },
        onChunk: (chunk) => {
          if (reply.dataset.chunks === "0") body.replaceChildren();
          body.append(chunk.delta);
          reply.dataset.chunks = String(Number(reply.dataset.chunks) + 1);
          scrollToEnd();
        },
      },
    );
    body.replaceChildren(result.response);
    finishBubble(reply, "complete");
    reply.dataset.messageId = result.message_id;
    if (generation === state.selecting) await refreshInsight(generation);
  } catch (error) {
    if (reply.dataset.chunks === "0") body.replaceChildren();
    if (error instanceof RpcError && error.code === -32031) {
      finishBubble(reply, "cancelled", "(stopped)");
    } else {
      finishBubble(reply, "failed", "No reply.");
      showError(error);
    }
  } finally {
    reply.removeAttribute("aria-busy");
    state.streaming = null;
    updateComposer();
    if (!ui.input.disabled) ui.input.focus();
  }
}

async function stopReply() {
  const streaming = state.streaming;
  if (!streaming || streaming.id === null) return;
  try {
    await rpc.call("conversation.cancel", { request_id: streaming.id });
  } catch (error) {
    showError(error, "Stopping the reply");
  }
}

// --- mood and relationship panel -----------------------------------------------------------

async function refreshInsight(generation = state.selecting) {
  const persona = state.current;
  if (!persona) return;
  const [mood, relationship] = await Promise.all([
    rpc.call("persona.state", { persona_id: persona.id }),
    rpc.call("relationship.get", { persona_id: persona.id, other_id: config.participant_id }),
  ]);
  if (generation !== state.selecting) return;
  state.mood = mood;
  state.relationship = relationship;
  renderInsight();
}

async function refreshRelationship() {
  const persona = state.current;
  const generation = state.selecting;
  const relationship = await rpc.call("relationship.get", {
    persona_id: persona.id,
    other_id: config.participant_id,
  });
  if (generation !== state.selecting) return;
  state.relationship = relationship;
  renderInsight();
}

// A panel of the insight column: ``#<name>-panel``, its heading, a summary line (chips), gauges.
function insightSection(name, title, summary, ...gauges) {
  return el(
    "section",
    { class: "insight-section", id: `${name}-panel`, "aria-labelledby": `${name}-heading` },
    el("h3", { id: `${name}-heading`, text: title }),
    el("p", { class: "emotion" }, ...summary),
    ...gauges,
  );
}

function renderInsight() {
  const persona = state.current;
  if (!persona) {
    ui.insight.replaceChildren(el("p", { class: "muted", text: "No persona selected." }));
    return;
  }
  const mood = state.mood;
  const rel = state.relationship;
  const sections = [];
  if (mood) {
    sections.push(
      insightSection(
        "mood",
        "Feelings",
        [
          el("span", { class: "chip", "data-field": "emotion", text: words(mood.emotion) }),
          el("span", { class: "muted", text: ` · mood ${moodWord(mood.mood)}` }),
        ],
        gauge("mood", "Mood", mood.mood, { min: -1, max: 1 }),
        gauge("energy", "Energy", mood.energy),
        gauge("social_battery", "Social battery", mood.social_battery),
        gauge("stress", "Stress", mood.stress),
      ),
    );
  }
  if (rel) {
    sections.push(
      insightSection(
        "relationship",
        "Relationship with you",
        [
          el("span", {
            class: `chip stage stage-${rel.stage}`,
            "data-field": "stage",
            text: words(rel.stage),
          }),
          el("span", {
            class: "muted",
            "data-field": "interactions",
            "data-value": rel.interactions,
            text: ` · ${rel.interactions} ${rel.interactions === 1 ? "exchange" : "exchanges"}`,
          }),
        ],
        gauge("affinity", "Affinity", rel.affinity, { min: -1, max: 1 }),
        gauge("trust", "Trust", rel.trust, { min: -1, max: 1 }),
        gauge("respect", "Respect", rel.respect, { min: -1, max: 1 }),
        gauge("familiarity", "Familiarity", rel.familiarity),
      ),
    );
  }
  if (sections.length === 0) sections.push(el("p", { class: "muted", text: "Loading…" }));
  ui.insight.replaceChildren(...sections);
  ui.insight.dataset.updated = String(Date.now());
}

// --- live events -------------------------------------------------------------------------

function notified(method, params) {
  if (method !== "event") return;
  const persona = state.current;
  const data = params.data || {};
  // Only the selected persona's topic is subscribed; a late event of the previous one is ignored.
  const mine = data.slug === persona?.slug || data.id === persona?.id || data.persona_id === persona?.id;
  if (!persona || !mine) return;
  switch (params.type) {
    case "persona.state_changed":
      state.mood = { ...(state.mood || {}), ...pick(data, ["mood", "emotion", "energy", "social_battery", "stress"]) };
      renderInsight();
      break;
    case "relationship.changed":
      if (data.other_id === config.participant_id) refreshRelationship().catch(() => {});
      break;
    case "persona.updated":
      rpc
        .call("persona.get", { persona_id: persona.id })
        .then((fresh) => {
          if (!state.current || state.current.id !== fresh.id) return;
          state.current = { ...state.current, ...fresh };
          renderHeader(state.current);
          const i = state.personas.findIndex((p) => p.id === fresh.id);
          if (i >= 0) state.personas[i] = { ...state.personas[i], ...fresh };
          renderPersonaList();
        })
        .catch(() => {});
      break;
    case "persona.deleted":
      showError(new RpcError(-32001, ERROR_TEXT["-32001"]));
      state.current = null;
      ui.header.replaceChildren(el("div", { class: "empty-state" }, el("p", { text: "Pick a persona to start chatting." })));
      renderInsight();
      updateComposer();
      loadPersonas();
      break;
    default:
      break;
  }
}

function pick(object, keys) {
  const out = {};
  for (const key of keys) if (key in object) out[key] = object[key];
  return out;
}

// --- wiring ------------------------------------------------------------------------------

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  sendMessage(ui.input.value);
});
ui.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    if (!ui.send.disabled) sendMessage(ui.input.value);
  } else if (event.key === "Escape" && state.streaming) {
    stopReply();
  }
});
ui.stop.addEventListener("click", stopReply);
ui.search.addEventListener("input", renderPersonaList);
$("error-close").addEventListener("click", clearError);
window.addEventListener("online", () => rpc.reconnectNow());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") rpc.reconnectNow();
});

updateComposer();
rpc.connect();
