// The baseline of `npm run bench`: a plain Node HTTP server answering the same JSON-RPC
// `tools/call` echo that the mcp-server answers, with no framework and no MCP layer.
import { createServer } from "node:http";

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const msg = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: msg.id,
      result: { content: [{ type: "text", text: msg.params.arguments.message }] },
    });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(0, "127.0.0.1", () =>
  process.stdout.write(`${JSON.stringify({ msg: "listening", port: server.address().port })}\n`),
);
process.on("SIGTERM", () => server.close(() => process.exit(0)));
