// persona.get round trips on the bare `ws` package (no client library): the JS-side baseline.
import WebSocket from "ws";

const [url, key, n = "300"] = process.argv.slice(2);
const ws = new WebSocket(url, { perMessageDeflate: false });
await new Promise((r) => ws.once("open", r));
let id = 0;
const call = (method, params) =>
  new Promise((resolve) => {
    const mine = ++id;
    const onMessage = (data) => {
      const msg = JSON.parse(String(data));
      if (msg.id === mine) {
        ws.off("message", onMessage);
        resolve(msg);
      }
    };
    ws.on("message", onMessage);
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: mine, method, params }));
  });
await call("session.authenticate", { token: key });
for (let i = 0; i < 50; i++) await call("persona.get", { persona_id: "alice" });
const samples = [];
for (let i = 0; i < Number(n); i++) {
  const t0 = process.hrtime.bigint();
  await call("persona.get", { persona_id: "alice" });
  samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
ws.close();
console.log(JSON.stringify({ client: "raw-ws", samples_ms: samples }));
