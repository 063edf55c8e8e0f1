/** Entry point of the mcp-server: `node services/mcp-server/dist/main.js`. */
import { runService } from "@mcp-platform/shared";
import { version } from "../package.json";
import { buildApp } from "./app";
import { McpServerEnvSchema } from "./env";

void runService({ name: "mcp-server", version, envSchema: McpServerEnvSchema, tags: ["mcp"], buildApp });
