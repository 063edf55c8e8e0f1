/**
 * Reads `Pulumi.<stack>.yaml` the way the Pulumi CLI hands config to a program: a flat map of
 * `project:key` to text, structured values as JSON.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { parseStackConfig, rawFromPulumiConfig } from "../../infra/config";
import type { StackConfig } from "../../infra/config";

/** The repository root. */
export const ROOT = join(__dirname, "..", "..");

/** The flat config map of a committed stack file. */
export function stackConfigMap(stack: "dev" | "prod"): Record<string, string> {
  const doc = parse(readFileSync(join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) as {
    config: Record<string, unknown>;
  };
  return Object.fromEntries(
    Object.entries(doc.config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  );
}

/** Raw (unvalidated) values of a committed stack file, keyed without the project prefix. */
export function rawStackConfig(stack: "dev" | "prod"): Record<string, unknown> {
  return rawFromPulumiConfig(stackConfigMap(stack));
}

/** The validated config of a committed stack file. */
export function stackConfig(stack: "dev" | "prod"): StackConfig {
  return parseStackConfig(rawStackConfig(stack));
}
