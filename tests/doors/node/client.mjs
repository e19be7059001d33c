// Drives POST /mcp with the official MCP TypeScript SDK; prints what it saw as one JSON line.
// Usage: node client.mjs URL API_KEY   (run by tests/doors/test_mcp_sdks.py)
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, key] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${key}` } },
});
const client = new Client({ name: "persona-mcp-ts-check", version: "1.0.0" });
await client.connect(transport);

const tools = await client.listTools();
const persona = await client.callTool({ name: "get_persona", arguments: { persona_id: "alice" } });
const progress = [];
const chat = await client.callTool(
  {
    name: "chat_with_persona",
    arguments: { persona_id: "alice", content: "May I come in?", sender: "sdk-user" },
  },
  undefined,
  { onprogress: (p) => progress.push([p.progress, p.message ?? null]) },
);
const resources = await client.listResources();
const card = await client.readResource({ uri: "persona://alice" });
const prompt = await client.getPrompt({ name: "speak_as", arguments: { persona: "alice" } });
console.log(
  JSON.stringify({
    version: transport.protocolVersion,
    session: transport.sessionId ?? null,
    tools: tools.tools.map((t) => t.name),
    persona: persona.structuredContent,
    chat: chat.structuredContent,
    progress,
    resources: resources.resources.map((r) => r.uri),
    card: JSON.parse(card.contents[0].text),
    prompt: prompt.messages[0].content.text,
  }),
);
await transport.terminateSession();
await client.close();
