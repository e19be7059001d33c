// persona.get round trips through the JS client, one at a time: `node roundtrip.mjs URL KEY N WARMUP`.
// Prints {"client": "js", "samples_ms": [...]} (bench/clients.py computes the percentiles).
import { PersonaClient } from "../dist/index.js";

const [url, key, n = "2000", warmup = "200"] = process.argv.slice(2);
const client = await PersonaClient.connect(url, { apiKey: key });
for (let i = 0; i < Number(warmup); i++) await client.personaGet("alice");
const samples = [];
for (let i = 0; i < Number(n); i++) {
  const t0 = process.hrtime.bigint();
  await client.personaGet("alice");
  samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
await client.close();
console.log(JSON.stringify({ client: "js", samples_ms: samples }));
