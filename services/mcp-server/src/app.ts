/**
 * The mcp-server's fastify app: the shared operational routes, with the tool set configuration
 * summarised in `/info`. The MCP routes (`/mcp`, `/sse`, `/messages`) and the stdio bridge are
 * added by later issues.
 */
import type { BuildContext } from "@mcp-platform/shared";
import { createServiceApp } from "@mcp-platform/shared";
import type { FastifyInstance } from "fastify";
import type { McpServerEntry, McpServerEnv } from "./env";

/**
 * The tool set as `/info` shows it. A bridged server's `args` and `env` values are left out:
 * they routinely carry credentials (a database URL argument, a GitHub token), so only the
 * command, the number of arguments and the names of the variables are shown.
 */
export type ToolSetInfo =
  | { readonly kind: "builtin" }
  | {
      readonly kind: "stdio";
      readonly command: string;
      readonly argCount: number;
      readonly envNames: readonly string[];
    };

/** The mcp-server's `/info` `config`. */
export interface McpServerInfo {
  readonly toolSet: ToolSetInfo;
  readonly bridgeProcesses: number;
  readonly allowedOrigins: readonly string[];
  readonly maxBodyBytes: number;
}

/** Describes the configured tool set without secret values. */
export function toolSetInfo(entry: McpServerEntry | undefined): ToolSetInfo {
  if (entry === undefined) return { kind: "builtin" };
  return {
    kind: "stdio",
    command: entry.command,
    argCount: entry.args?.length ?? 0,
    envNames: Object.keys(entry.env ?? {}).sort(),
  };
}

/** Summarises the mcp-server's configuration without any secret value. */
export function mcpServerInfo(env: McpServerEnv): McpServerInfo {
  return {
    toolSet: toolSetInfo(env.MCP_SERVER),
    bridgeProcesses: env.MCP_BRIDGE_PROCESSES,
    allowedOrigins: env.MCP_ALLOWED_ORIGINS,
    maxBodyBytes: env.MCP_MAX_BODY_BYTES,
  };
}

/** Builds the mcp-server app; never listens (`main.ts` does, through `runService`). */
export function buildApp(options: BuildContext<McpServerEnv>): FastifyInstance {
  const info = mcpServerInfo(options.env);
  return createServiceApp(options, {
    bodyLimit: options.env.MCP_MAX_BODY_BYTES,
    details: () => ({ ...info }),
  });
}
