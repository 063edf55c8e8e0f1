/**
 * Resolves a component's secret env vars from secret config keys
 * (`pulumi config set --secret <key>`), shared by both targets.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { PROJECT } from "./config";
import type { ComponentSpec } from "./topology";

/**
 * Secret env values for a component. A missing key fails naming it, unless the reference says to
 * generate a random value (kept in state) or to leave the variable out.
 */
export function resolveSecretEnv(
  spec: ComponentSpec,
  parent: pulumi.Resource,
  config: pulumi.Config = new pulumi.Config(PROJECT),
): Record<string, pulumi.Output<string>> {
  const resolved: Record<string, pulumi.Output<string>> = {};
  for (const [env, ref] of Object.entries(spec.secretEnv)) {
    const value = config.getSecret(ref.key);
    if (value !== undefined) {
      resolved[env] = value;
    } else if (ref.whenMissing === "generate") {
      resolved[env] = new random.RandomPassword(
        `${spec.name}-${ref.key}`,
        { length: 48, special: false },
        { parent },
      ).result;
    } else if (ref.whenMissing === "fail") {
      throw new Error(
        `${PROJECT}:${ref.key} is not set; ${spec.name} needs it for ${env}: run \`pulumi config set --secret ${ref.key} <value>\``,
      );
    }
  }
  return resolved;
}
