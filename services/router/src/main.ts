/** Entry point of the router: `node services/router/dist/main.js`. */
import { runService } from "@mcp-platform/shared";
import { version } from "../package.json";
import { buildApp } from "./app";
import { RouterEnvSchema } from "./env";

void runService({ name: "router", version, envSchema: RouterEnvSchema, tags: ["router"], buildApp });
