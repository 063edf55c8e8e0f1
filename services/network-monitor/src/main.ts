/** Entry point of the network-monitor: `node services/network-monitor/dist/main.js`. */
import { runService } from "@mcp-platform/shared";
import { version } from "../package.json";
import { buildApp } from "./app";
import { MonitorEnvSchema } from "./env";

void runService({
  name: "network-monitor",
  version,
  envSchema: MonitorEnvSchema,
  tags: ["monitor"],
  // The monitor reports Consul down; it must not go down with it.
  registration: "keep-trying",
  buildApp,
});
