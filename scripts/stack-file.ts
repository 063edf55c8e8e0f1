/**
 * Reads `Pulumi.<stack>.yaml` the way the Pulumi CLI hands config to a program: a flat map of
 * `project:key` to text, structured values as JSON. Used by the local launcher, `npm run
 * stdio:lock` and the tests.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { StackConfig } from "../infra/config";
import { parseStackConfig, rawFromPulumiConfig } from "../infra/config";

/** The stacks that have a stack file in `root`, by name (`Pulumi.dev.yaml` is `dev`). */
export function stackFileNames(root: string): string[] {
  return readdirSync(root)
    .map((file) => /^Pulumi\.(.+)\.yaml$/.exec(file)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
}

/** The flat config map of `Pulumi.<stack>.yaml` in `root`. */
export function stackFileConfigMap(root: string, stack: string): Record<string, string> {
  const doc = parse(readFileSync(join(root, `Pulumi.${stack}.yaml`), "utf8")) as {
    config?: Record<string, unknown>;
  } | null;
  return Object.fromEntries(
    Object.entries(doc?.config ?? {}).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  );
}

/** The validated config of `Pulumi.<stack>.yaml` in `root`. */
export function stackFileConfig(root: string, stack: string): StackConfig {
  return parseStackConfig(rawFromPulumiConfig(stackFileConfigMap(root, stack)));
}
