/**
 * Runs policies the way the Pulumi policy engine would, over recorded resources: resource
 * policies per resource (honouring `notApplicable`), stack policies over all of them, with each
 * policy's `configSchema` defaults as its config.
 */
import type { Policies, PolicyResource, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";

/** A resource to check: type token, logical name and props. */
export interface Subject {
  readonly type: string;
  readonly name: string;
  readonly props: Record<string, any>;
}

/** One reported violation. */
export interface Finding {
  readonly policy: string;
  readonly resource: string;
  readonly message: string;
}

class NotApplicable extends Error {}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Props as the engine hands them to policies: plain data, secrets unwrapped. */
export function plainProps(value: unknown): any {
  // The engine hands policies JSON-like data: no functions survive serialization.
  if (typeof value === "function") return undefined;
  if (Array.isArray(value)) return value.map(plainProps);
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (SECRET_SIG in obj) return plainProps(obj.value);
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, plainProps(v)]));
  }
  return value;
}

function defaultsOf(
  schema: { properties: Record<string, { default?: unknown }> } | undefined,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(schema?.properties ?? {})
      .filter(([, p]) => p.default !== undefined)
      .map(([k, p]) => [k, p.default]),
  );
}

const notApplicable = (reason?: string): never => {
  throw new NotApplicable(reason);
};

/** Run every policy over the subjects; `config` overrides a policy's settings by policy name. */
export async function runPolicies(
  policies: Policies,
  subjects: readonly Subject[],
  config: Record<string, Record<string, unknown>> = {},
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const plain = subjects.map((s) => ({ ...s, props: plainProps(s.props) as Record<string, any> }));
  for (const policy of policies) {
    const settings = { ...defaultsOf(policy.configSchema), ...config[policy.name] };
    const getConfig = <T extends object>() => settings as T;
    if ("validateStack" in policy) {
      const resources = plain.map(
        (s) => ({ ...s, urn: `urn:${s.type}::${s.name}` }) as unknown as PolicyResource,
      );
      const args = { resources, stackTags: new Map(), getConfig, notApplicable } as StackValidationArgs;
      try {
        await policy.validateStack(args, (message) =>
          findings.push({ policy: policy.name, resource: "(stack)", message }),
        );
      } catch (e) {
        if (!(e instanceof NotApplicable)) throw e;
      }
      continue;
    }
    const validations = [policy.validateResource ?? []].flat();
    for (const s of plain) {
      const args = {
        type: s.type,
        name: s.name,
        props: s.props,
        urn: `urn:${s.type}::${s.name}`,
        opts: {
          protect: false,
          ignoreChanges: [],
          aliases: [],
          additionalSecretOutputs: [],
          customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        },
        stackTags: new Map(),
        isType: () => false,
        asType: () => undefined,
        getConfig,
        notApplicable,
      } as unknown as ResourceValidationArgs;
      for (const validate of validations) {
        try {
          await validate(args, (message) =>
            findings.push({ policy: policy.name, resource: s.name, message }),
          );
        } catch (e) {
          if (!(e instanceof NotApplicable)) throw e;
        }
      }
    }
  }
  return findings;
}
