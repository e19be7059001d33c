// One test in headless Chromium: the built ESM module, loaded by a page, streams a reply through
// the browser's native WebSocket. Chromium is driven over the DevTools protocol (CDP). The page
// is served by clients/testserver.py from an origin the server allows ($PERSONAMCP_PAGE).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import WebSocket from "ws";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

function launchChromium(profile) {
  const proc = spawn(CHROMIUM, [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
    `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank",
  ], { stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error(`chromium did not start:\n${err}`)), 30000);
    proc.stderr.on("data", (chunk) => {
      err += chunk;
      const match = err.match(/DevTools listening on (ws:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve({ proc, endpoint: match[1] });
      }
    });
    proc.on("exit", () => reject(new Error(`chromium exited:\n${err}`)));
  });
}

class Cdp {
  constructor(ws) {
    this.ws = ws;
    this.next = 1;
    this.waiting = new Map();
    this.listeners = [];
    ws.on("message", (data) => {
      const msg = JSON.parse(String(data));
      if (msg.id && this.waiting.has(msg.id)) {
        const { resolve, reject } = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        msg.error ? reject(new Error(msg.error.message)) : resolve(msg.result);
      } else if (msg.method) {
        for (const l of this.listeners) l(msg);
      }
    });
  }
  send(method, params = {}, sessionId) {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }
  once(method) {
    return new Promise((resolve) => {
      const l = (msg) => {
        if (msg.method === method) {
          this.listeners.splice(this.listeners.indexOf(l), 1);
          resolve(msg.params);
        }
      };
      this.listeners.push(l);
    });
  }
}

test("headless Chromium: the ESM build streams a reply over the native WebSocket", async () => {
  const url = process.env.PERSONAMCP_URL;
  const key = process.env.PERSONAMCP_KEY;
  // the page (clients/js/test/browser.html) comes from the test server, an origin the server allows
  const origin = process.env.PERSONAMCP_PAGE;
  assert.ok(url && key && origin, "run scripts/test_clients.sh js");
  const profile = mkdtempSync(join(tmpdir(), "pmc-chromium-"));
  const { proc, endpoint } = await launchChromium(profile);
  try {
    const ws = new WebSocket(endpoint);
    await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
    const cdp = new Cdp(ws);
    const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
    await cdp.send("Page.enable", {}, sessionId);
    const loaded = cdp.once("Page.loadEventFired");
    const page = `${origin}/test/browser.html?` +
      new URLSearchParams({ url, key });
    await cdp.send("Page.navigate", { url: page }, sessionId);
    await loaded;
    const { result, exceptionDetails } = await cdp.send("Runtime.evaluate", {
      expression: "window.browserTest", awaitPromise: true, returnByValue: true,
    }, sessionId);
    assert.equal(exceptionDetails, undefined);
    const outcome = result.value;
    assert.equal(outcome.failed, undefined, outcome.failed);
    assert.equal(outcome.nativeWebSocket, "function");
    assert.ok(outcome.deltas.length > 3);
    assert.equal(outcome.deltas.join(""), outcome.response);
    assert.equal(outcome.response, process.env.PERSONAMCP_REPLY);
    assert.equal(outcome.errorCode, -32001);
    ws.close();
  } finally {
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill();
    await exited;
    // Chromium's helper processes may still be writing the profile for a moment
    rmSync(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  }
});
