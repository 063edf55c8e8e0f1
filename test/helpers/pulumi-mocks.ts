/**
 * Runs the real Pulumi program under `pulumi.runtime.setMocks` and records every resource
 * registration: type, name, inputs, parent and `deleteBeforeReplace`.
 * Call once per test file: the program module is imported after the mocks are set.
 */
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "../../infra/config";

/** One registered resource. */
export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, any>;
  readonly parent: string;
  readonly deleteBeforeReplace: boolean;
}

/** Deterministic computed outputs, the way providers would fill them. */
export function computedState(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
  switch (type) {
    case "docker:index/image:Image":
      return { ...inputs, repoDigest: `sha256:built-${name}` };
    case "docker:index/remoteImage:RemoteImage":
      return { ...inputs, imageId: `sha256:pulled-${inputs.name}` };
    case "random:index/randomPassword:RandomPassword":
      return { ...inputs, result: `generated-${name}` };
    default:
      return { ...inputs, name: inputs.name ?? name };
  }
}

/** Await a Pulumi output's value. */
export function valueOf<T>(output: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
}

/**
 * Set mocks and config, import the program, and wait until `settle` (a list of the program's
 * exported outputs) resolves. Returns the program's exports and what was registered.
 */
export async function runProgram(
  stack: string,
  config: Record<string, string>,
  secretKeys: string[] = [],
): Promise<{ program: Record<string, unknown>; resources: Recorded[] }> {
  const resources: Recorded[] = [];
  const pending = new Map<string, Omit<Recorded, "inputs">>();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const meta = pending.get(`${args.type}::${args.name}`);
        const inputs = args.inputs as Record<string, any>;
        resources.push({
          type: args.type,
          name: args.name,
          inputs,
          parent: meta?.parent ?? "",
          deleteBeforeReplace: meta?.deleteBeforeReplace ?? false,
        });
        return { id: `${args.name}-id`, state: computedState(args.type, args.name, inputs) };
      },
      call: (args) => args.inputs,
    },
    PROJECT,
    stack,
    false,
  );
  // The mock's newResource does not see options; the monitor's request does.
  const monitor = pulumi.runtime.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: unknown) => {
    pending.set(`${req.getType()}::${req.getName()}`, {
      type: req.getType(),
      name: req.getName(),
      parent: req.getParent(),
      deleteBeforeReplace: req.getDeletebeforereplace(),
    });
    return register(req, callback);
  };
  pulumi.runtime.setAllConfig(config, secretKeys);
  const program = (await import("../../infra/index")) as Record<string, unknown>;
  return { program, resources };
}

/** Pulumi's marker of a secret value in serialized inputs. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** The value inside a secret input; throws when the input is not a secret. */
export function secretValue(input: unknown): unknown {
  const wrapped = input as Record<string, unknown> | null;
  if (wrapped === null || typeof wrapped !== "object" || !(SECRET_SIG in wrapped)) {
    throw new Error(`expected a secret, got ${JSON.stringify(input)}`);
  }
  return wrapped.value;
}

/** Resources of one type token. */
export function ofType(resources: readonly Recorded[], type: string): Recorded[] {
  return resources.filter((r) => r.type === type);
}
