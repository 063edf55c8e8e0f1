/**
 * The committed stack files, read as the Pulumi CLI hands config to a program (see
 * scripts/stack-file.ts).
 */
import { join } from "node:path";
import { parseStackConfig, rawFromPulumiConfig } from "../../infra/config";
import type { StackConfig } from "../../infra/config";
import { stackFileConfigMap } from "../../scripts/stack-file";

/** The repository root. */
export const ROOT = join(__dirname, "..", "..");

/** The flat config map of a committed stack file. */
export function stackConfigMap(stack: "dev" | "prod"): Record<string, string> {
  return stackFileConfigMap(ROOT, stack);
}

/** Raw (unvalidated) values of a committed stack file, keyed without the project prefix. */
export function rawStackConfig(stack: "dev" | "prod"): Record<string, unknown> {
  return rawFromPulumiConfig(stackConfigMap(stack));
}

/** The validated config of a committed stack file. */
export function stackConfig(stack: "dev" | "prod"): StackConfig {
  return parseStackConfig(rawStackConfig(stack));
}
