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
