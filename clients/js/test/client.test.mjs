// The JavaScript client against the live server (and a misbehaving one) on Node's test runner.
// The server comes from scripts/test_clients.sh: $PERSONAMCP_URL, $PERSONAMCP_KEY, ...
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { test } from "node:test";

import * as pmc from "../dist/index.js";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run scripts/test_clients.sh js`);
  return value;
};
const URL_ = env("PERSONAMCP_URL");
const KEY = env("PERSONAMCP_KEY");
const READ_KEY = env("PERSONAMCP_READ_KEY");
const BAD_URL = env("PERSONAMCP_BAD_URL");
const CONTROL = env("PERSONAMCP_CONTROL");
const REPLY = env("PERSONAMCP_REPLY");

const quiet = { warn() {}, info() {} };
const connect = (options = {}) =>
  pmc.PersonaClient.connect(URL_, { apiKey: KEY, logger: quiet, ...options });

async function withClient(fn, options) {
  const client = await connect(options);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

// Collects events; next(match, ms) waits (from the time it is called) for one that matches.
function collector() {
  const events = [];
  let wake = null;
  return {
    handler: (e) => { events.push(e); wake?.(); },
    async next(match, timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find(match);
        if (found) return found;
        const left = deadline - Date.now();
        if (left <= 0) return null;
        await new Promise((r) => {
          const timer = setTimeout(r, left);
          wake = () => { clearTimeout(timer); r(); };
        });
      }
    },
  };
}

test("Node without a global WebSocket falls back to the ws package", async () => {
  if (globalThis.WebSocket === undefined) {
    await withClient(async (c) => assert.equal((await c.ping()).pong, true));
  } else {
    assert.equal(typeof globalThis.WebSocket, "function");
  }
});

test("call returns the result and the key's scopes", () =>
  withClient(async (c) => {
    assert.equal((await c.personaGet("alice")).slug, "alice");
    assert.deepEqual(c.scopes, ["read", "write"]);
  }));

test("an unknown persona rejects with PersonaNotFound carrying code and data", () =>
  withClient(async (c) => {
    await assert.rejects(c.personaGet("nobody-here"), (e) => {
      assert.ok(e instanceof pmc.PersonaNotFound && e instanceof pmc.RpcError);
      assert.equal(e.code, -32001);
      return true;
    });
  }));

test("an unknown param rejects with InvalidParams listing the field", () =>
  withClient(async (c) => {
    await assert.rejects(c.call("persona.get", { persona_id: "alice", colour: "red" }), (e) => {
      assert.ok(e instanceof pmc.InvalidParams);
      assert.deepEqual(e.errors.map((x) => x.field), ["colour"]);
      return true;
    });
  }));

test("a key without the scope is forbidden", () =>
  withClient(
    async (c) => {
      assert.equal((await c.personaGet("rook")).slug, "rook");
      await assert.rejects(c.personaCreate({ name: "Should Not Exist" }), (e) => {
        assert.ok(e instanceof pmc.Forbidden);
        assert.equal(e.code, -32021);
        return true;
      });
    },
    { apiKey: READ_KEY },
  ));

test("a refused key fails connect with Unauthenticated", async () => {
  await assert.rejects(connect({ apiKey: "pmcp_bad", reconnect: false }), pmc.Unauthenticated);
});

test("send returns the turn result", () =>
  withClient(async (c) => {
    const result = await c.send("Hello there!", { persona_id: "alice", sender: "js-send" });
    assert.equal(result.response, REPLY);
    assert.ok(result.conversation_id);
  }));

test("stream yields the deltas in order, then the result", () =>
  withClient(async (c) => {
    await c.switch("rook");
    const seen = [];
    const stream = c.stream("Tell me about the road", { sender: "js-stream", onDelta: (d) => seen.push(d) });
    const deltas = [];
    for await (const delta of stream) deltas.push(delta);
    const result = await stream.result();
    assert.ok(deltas.length > 3);
    assert.equal(deltas.join(""), result.response);
    assert.equal(result.response, REPLY);
    assert.deepEqual(seen, deltas);
    assert.equal(stream.conversationId, result.conversation_id);
  }));

test("concurrent requests on one socket are matched by id", () =>
  withClient(async (c) => {
    let finished = false;
    const stream = c.stream("A long story", { persona_id: "elias", sender: "js-conc" });
    stream.result().then(() => (finished = true));
    const names = ["alice", "rook", "elias", "pip"].flatMap((n) => [n, n, n]);
    const got = await Promise.all(names.map((n) => c.personaGet(n)));
    assert.deepEqual(got.map((p) => p.slug), names);
    assert.equal(finished, false); // the reads did not wait for the turn
    assert.ok((await stream.result()).response);
  }));

test("cancel ends the stream with Cancelled and keeps the partial reply", () =>
  withClient(async (c) => {
    const stream = c.stream("Talk for a while", { persona_id: "alice", sender: "js-cancel" });
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    assert.ok(first.value);
    assert.equal(await stream.cancel(), true);
    await assert.rejects(stream.result(), (e) => e instanceof pmc.Cancelled && e.code === -32031);
    const history = await c.history(stream.conversationId);
    const last = history.messages.at(-1);
    assert.equal(last.status, "cancelled");
    assert.ok(last.content.startsWith(first.value.trim()));
  }));

test("subscribe delivers events; unsubscribe stops them", () =>
  withClient(async (c) => {
    const events = collector();
    const sub = await c.subscribe(["persona.pip"], events.handler);
    await withClient((other) => other.personaUpdate("pip", { description: `seen by js ${Date.now()}` }));
    const event = await events.next((e) => e.data.slug === "pip");
    assert.ok(event, "no event arrived");
    assert.equal(event.type, "persona.updated");
    assert.equal(event.data.slug, "pip");
    await sub.unsubscribe();
    assert.deepEqual((await c.sessionInfo()).subscriptions, []);
  }));

test("reconnects after the server restarts and restores the session", () =>
  withClient(
    async (c) => {
      await c.switch("elias");
      const events = collector();
      await c.subscribe("persona.*", events.handler);
      assert.equal(c.connects, 1);
      const restarted = await fetch(CONTROL + "/restart", { method: "POST" });
      assert.equal((await restarted.json()).restarted, true);
      const info = await c.sessionInfo(); // waits while the client reconnects
      assert.equal(c.connects, 2);
      assert.equal(info.authenticated, true);
      assert.deepEqual(info.subscriptions, ["persona.*"]);
      assert.equal(info.active_persona.slug, "elias");
      assert.ok((await c.send("Are you back?", { sender: "js-reconnect" })).response);
      await c.personaUpdate("elias", { description: `after the restart (js) ${Date.now()}` });
      const event = await events.next((e) => e.data.slug === "elias");
      assert.ok(event, "no event after the restart");
      assert.equal(event.data.slug, "elias");
    },
    { backoffInitial: 50, backoffMax: 500 },
  ));

test("a request timeout rejects and the client stays usable", async () => {
  const bad = await pmc.PersonaClient.connect(BAD_URL, { logger: quiet });
  try {
    await assert.rejects(bad.call("silent", {}, { timeout: 300 }), pmc.RequestTimeout);
    assert.deepEqual((await bad.call("echo", { x: 1 })).params, { x: 1 });
  } finally {
    await bad.close();
  }
});

test("bad frames and unknown ids from the server are logged and ignored", async () => {
  const warnings = [];
  const bad = await pmc.PersonaClient.connect(BAD_URL, { logger: { warn: (m) => warnings.push(String(m)) } });
  try {
    const answers = await Promise.all([0, 1, 2, 3, 4].map((n) => bad.call("echo", { n })));
    assert.deepEqual(answers.map((a) => a.params.n), [0, 1, 2, 3, 4]);
    await assert.rejects(bad.call("fail"), (e) => e.code === -32099 && e.data.n === 7);
  } finally {
    await bad.close();
  }
  const text = warnings.join("\n");
  for (const part of ["not JSON", "binary frame", "unknown id", "neither or both", "not a message"]) {
    assert.ok(text.includes(part), `no warning about "${part}"`);
  }
});

test("the v1.1 wrappers send the documented methods and params", async () => {
  const bad = await pmc.PersonaClient.connect(BAD_URL, { logger: quiet });
  const pos = { x: 1, y: 2, z: 0 };
  try {
    const cases = [
      [bad.worldEvent({ type: "gift", description: "a rose", persona_id: "alice", importance: 0.7 }),
        "world.event", { type: "gift", description: "a rose", persona_id: "alice", importance: 0.7 }],
      [bad.sceneMove("r1", "alice", pos), "scene.move", { room_id: "r1", entity_id: "alice", position: pos }],
      [bad.triggerCreate({ persona_id: "alice", name: "greet", when: { event_type: "arrive" }, then: { say: "hi" }, once: true }),
        "trigger.create", { persona_id: "alice", name: "greet", when: { event_type: "arrive" }, then: { say: "hi" }, once: true }],
      [bad.triggerList("alice"), "trigger.list", { persona_id: "alice" }],
      [bad.triggerDelete("t1"), "trigger.delete", { trigger_id: "t1" }],
      [bad.goalSet("alice", "find the key"), "goal.set", { persona_id: "alice", goal: "find the key" }],
      [bad.goalList("alice"), "goal.list", { persona_id: "alice" }],
      [bad.goalComplete("alice", "g1"), "goal.complete", { persona_id: "alice", goal: "g1" }],
      [bad.lorebookList({ persona_id: "alice" }), "lorebook.list", { persona_id: "alice" }],
      [bad.lorebookCreate("World", [{ keys: ["x"], content: "y" }]), "lorebook.create", { name: "World", entries: [{ keys: ["x"], content: "y" }] }],
      [bad.lorebookAttach("l1", { room_id: "r1" }), "lorebook.attach", { lorebook_id: "l1", room_id: "r1" }],
      [bad.lorebookExport("l1", "character_book"), "lorebook.export", { lorebook_id: "l1", format: "character_book" }],
    ];
    for (const [promise, method, params] of cases) {
      assert.deepEqual(await promise, { method, params });
    }
  } finally {
    await bad.close();
  }
});

test("close rejects waiting requests with ClientClosed", async () => {
  const bad = await pmc.PersonaClient.connect(BAD_URL, { logger: quiet });
  const waiting = assert.rejects(
    bad.call("silent", {}, { timeout: 30000 }),
    (e) => e instanceof pmc.ClientClosed || e instanceof pmc.ConnectionLost,
  );
  await bad.close();
  await waiting;
  await assert.rejects(bad.ping(), pmc.ClientClosed);
});

test("backoff grows with jitter up to the maximum", () => {
  for (const [attempt, ceiling] of [[0, 200], [1, 400], [3, 1600], [10, 5000], [50, 5000]]) {
    const delays = new Set(Array.from({ length: 50 }, () => pmc.backoffDelay(attempt, 200, 5000)));
    for (const d of delays) assert.ok(d >= ceiling / 2 && d <= ceiling);
    assert.ok(delays.size > 1);
  }
});

test("topic patterns match by wildcard, id or slug", () => {
  const event = { topic: "persona.42", type: "persona.updated", data: { id: 42, slug: "al" }, at: "" };
  for (const p of ["persona.*", "*", "persona.al", "persona.42"]) assert.ok(pmc.topicMatches(p, event), p);
  for (const p of ["persona.bob", "room.*"]) assert.ok(!pmc.topicMatches(p, event), p);
});

test("examples/chat.mjs streams, then prints the result as one JSON line", async () => {
  const script = fileURLToPath(new URL("../examples/chat.mjs", import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [script, URL_, "rook", "Good evening"], {
    env: { ...process.env, PERSONAMCP_KEY: KEY },
    timeout: 60000,
  });
  const lines = stdout.trimEnd().split("\n");
  const result = JSON.parse(lines.pop());
  assert.equal(lines.join("\n"), result.response);
});
