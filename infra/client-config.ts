/**
 * Ready-to-paste client settings for the gateway: Cursor's `mcp.json` and Claude Code's
 * `claude mcp add`. Pure, so the README, the stack outputs and the tests agree.
 */

/** The gateway's Streamable HTTP URL; `https` when the front door terminates TLS. */
export function gatewayUrl(host: string, port: number, scheme: "http" | "https" = "http"): string {
  return `${scheme}://${host}:${port}/mcp`;
}

/** Cursor `~/.cursor/mcp.json` (or `.cursor/mcp.json`) content for the gateway. */
export function cursorConfig(url: string, name = "mcp-platform"): string {
  return JSON.stringify({ mcpServers: { [name]: { url } } }, null, 2);
}

/** The Claude Code command that adds the gateway as an HTTP MCP server. */
export function claudeCodeCommand(url: string, name = "mcp-platform"): string {
  return `claude mcp add --transport http ${name} ${url}`;
}
