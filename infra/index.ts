/**
 * The MCP Platform program: reads the stack config, derives the topology, and composes the
 * target the config names. Stack outputs are the URLs and ready-to-paste client settings.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parseStackConfig, rawFromPulumiConfig } from "./config";
import { DevStack } from "./docker/dev-stack";
import { buildTopology } from "./topology";

const config = parseStackConfig(rawFromPulumiConfig(pulumi.runtime.allConfig()));
const topology = buildTopology(config);

if (config.target !== "docker") {
  throw new Error(`mcp-platform:target "${config.target}" has no deployment in this version; use "docker"`);
}

const dev = new DevStack("mcp-platform", {
  topology,
  context: path.resolve(__dirname, ".."),
  imageTag: pulumi.getStack(),
  publishAddress: config.publishAddress,
});

/** The MCP gateway (Streamable HTTP); legacy SSE clients use `/sse` on the same host and port. */
export const gatewayUrl = dev.gatewayUrl;
/** Paste into `~/.cursor/mcp.json`. */
export const cursorConfig = dev.cursorConfig;
/** Run to add the gateway to Claude Code. */
export const claudeCodeCommand = dev.claudeCodeCommand;
export const consulUrl = dev.consulUrl;
export const dashboardUrl = dev.dashboardUrl;
export const haproxyStatsUrl = dev.statsUrl;
/** Direct access to one MCP service each, bypassing the router. */
export const serviceUrls = dev.serviceUrls;
/** Every container the stack runs, by name. */
export const containers = Object.values(dev.workloads).flatMap((w) => w.containers.map((c) => c.name));
