/** A link to an MCP server running in this process (the built-in tool set). */
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Link } from "./link";

/** Connects `server` over an in-memory transport pair and returns the client side as a link. */
export async function startInProcessLink(name: string, server: McpServer): Promise<Link> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  let up = true;
  const link: Link = {
    name,
    send(message: JSONRPCMessage) {
      if (!up) throw new Error(`${name} is closed`);
      void clientSide.send(message);
    },
    async close() {
      if (!up) return;
      await server.close();
    },
  };
  clientSide.onmessage = (message) => link.onmessage?.(message);
  clientSide.onclose = () => {
    if (!up) return;
    up = false;
    link.onexit?.("in-process server closed");
  };
  await server.connect(serverSide);
  await clientSide.start();
  return link;
}
