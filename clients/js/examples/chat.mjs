// Stream one reply: `node chat.mjs URL PERSONA MESSAGE` (API key in $PERSONAMCP_KEY).
// Prints the deltas as they arrive, then the turn result as one JSON line.
import { PersonaClient, RpcError } from "../dist/index.js";

const [url, persona, message] = process.argv.slice(2);
if (!message) {
  console.error("usage: node chat.mjs URL PERSONA MESSAGE   (API key in $PERSONAMCP_KEY)");
  process.exit(2);
}
try {
  const client = await PersonaClient.connect(url, { apiKey: process.env.PERSONAMCP_KEY });
  const stream = client.stream(message, { persona_id: persona });
  for await (const delta of stream) process.stdout.write(delta);
  const result = await stream.result();
  process.stdout.write("\n" + JSON.stringify(result) + "\n");
  await client.close();
} catch (error) {
  console.error(error instanceof RpcError ? `error ${error.code}: ${error.rpcMessage}` : String(error));
  process.exit(1);
}
