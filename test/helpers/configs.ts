/** Valid stack configs built in code, for tests that need more than the committed stacks. */
import { parseStackConfig } from "../../infra/config";
import type { StackConfig } from "../../infra/config";
import type * as StdioLock from "../../infra/stdio-lock";
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

/** `ADDED_SERVICE`'s package as the image build argument names it. */
export const ADDED_PACKAGE = `${ADDED_SERVICE.toolSet.package}@${ADDED_SERVICE.toolSet.version}`;

/**
 * `infra/stdio-lock` as after `npm run stdio:lock` with `ADDED_SERVICE` in a stack file: its
 * package counts as locked, every other package is checked against the committed lock. For
 * `jest.mock` in the tests that add the service (the real lock is for the committed stack files;
 * locking another package needs the npm registry, which tests never reach).
 */
export function stdioLockWithAddedService(): typeof StdioLock {
  const actual = jest.requireActual<typeof StdioLock>("../../infra/stdio-lock");
  return {
    ...actual,
    checkStdioLock: (specs, root) =>
      actual.checkStdioLock(
        specs.filter((s) => s !== ADDED_PACKAGE),
        root,
      ),
  };
}

/** A stack file's flat config with `ADDED_SERVICE` appended to its catalog. */
export function withAddedService(config: Record<string, string>): Record<string, string> {
  const key = "mcp-platform:services";
  const services = JSON.parse(config[key] ?? "[]") as unknown[];
  return { ...config, [key]: JSON.stringify([...services, ADDED_SERVICE]) };
}
