/** Valid stack configs built in code, for tests that need more than the committed stacks. */
import { parseStackConfig } from "../../infra/config";
import type { StackConfig } from "../../infra/config";
import { rawStackConfig } from "./stack-files";

/** The dev config with `n` built-in services on 11100, 11101, … */
export function configWithServices(n: number, target: "docker" | "eks" = "docker"): StackConfig {
  const raw = structuredClone(rawStackConfig(target === "docker" ? "dev" : "prod")) as Record<
    string,
    unknown
  >;
  raw.services = Array.from({ length: n }, (_, i) => ({
    name: `svc-${i + 1}`,
    port: 11100 + i,
    replicas: 1 + (i % 3),
    toolSet: { kind: "builtin", name: "diagnostics" },
  }));
  return parseStackConfig(raw);
}

/** A service a test adds to a committed stack, to show one config change reaches both stacks. */
export const ADDED_SERVICE = {
  name: "search",
  port: 11103,
  replicas: 2,
  toolSet: {
    kind: "stdio",
    package: "@modelcontextprotocol/server-sequential-thinking",
    version: "2025.7.1",
    bin: "mcp-server-sequential-thinking",
  },
} as const;

/** A stack file's flat config with `ADDED_SERVICE` appended to its catalog. */
export function withAddedService(config: Record<string, string>): Record<string, string> {
  const key = "mcp-platform:services";
  const services = JSON.parse(config[key] ?? "[]") as unknown[];
  return { ...config, [key]: JSON.stringify([...services, ADDED_SERVICE]) };
}
