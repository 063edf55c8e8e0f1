/**
 * Runs the real Pulumi program under `pulumi.runtime.setMocks` and records every resource
 * registration: type, name, inputs, parent and `deleteBeforeReplace`.
 * Call once per test file: the program module is imported after the mocks are set.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT } from "../../infra/config";

/** One registered resource. */
export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, any>;
  readonly parent: string;
  readonly deleteBeforeReplace: boolean;
  /** URNs of the resources it explicitly depends on (`dependsOn`). */
  readonly dependencies: readonly string[];
  /** Whether `pulumi destroy` leaves it in place (`retainOnDelete`). */
  readonly retainOnDelete: boolean;
}

/** The fake AWS account and region the mocks report. */
export const MOCK_AWS = {
  account: "123456789012",
  region: "eu-west-1",
  oidcIssuer: "oidc.eks.eu-west-1.amazonaws.com/id/MOCKOIDC",
  nlbHostname: "k8s-mcpplatf-haproxyp-0123456789.elb.eu-west-1.amazonaws.com",
} as const;

/** A deterministic 64-hex digest for a name. */
export function mockDigest(name: string): string {
  return `sha256:${createHash("sha256").update(name).digest("hex")}`;
}

/** The registry host of the mocked account. */
const REGISTRY = `${MOCK_AWS.account}.dkr.ecr.${MOCK_AWS.region}.amazonaws.com`;

/** The outputs of the remote components (awsx, eks), whose children do not exist under mocks. */
function remoteComponentState(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
  switch (type) {
    case "awsx:ec2:Vpc": {
      const zones = Array.from({ length: inputs.numberOfAvailabilityZones ?? 3 }, (_, i) => i);
      return {
        vpcId: `vpc-${name}`,
        publicSubnetIds: zones.map((i) => `subnet-public-${i}`),
        privateSubnetIds: zones.map((i) => `subnet-private-${i}`),
      };
    }
    case "eks:index:Cluster": {
      const kubeconfig = {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name, cluster: { server: `https://${name}.eks.amazonaws.com` } }],
      };
      return {
        kubeconfig,
        kubeconfigJson: JSON.stringify(kubeconfig),
        eksCluster: { name: `${name}-cluster` },
        oidcIssuer: MOCK_AWS.oidcIssuer,
        oidcProviderUrl: `https://${MOCK_AWS.oidcIssuer}`,
        oidcProviderArn: `arn:aws:iam::${MOCK_AWS.account}:oidc-provider/${MOCK_AWS.oidcIssuer}`,
        nodeSecurityGroupId: `sg-nodes-${name}`,
        clusterSecurityGroupId: `sg-cluster-${name}`,
      };
    }
    default:
      return {};
  }
}

/** Deterministic computed outputs, the way providers would fill them. */
export function computedState(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
  if (type.startsWith("awsx:") || type.startsWith("eks:")) {
    return { ...inputs, ...remoteComponentState(type, name, inputs) };
  }
  switch (type) {
    case "docker:index/image:Image": {
      if (inputs.skipPush === true) return { ...inputs, repoDigest: `sha256:built-${name}` };
      // A pushed image's digest names its repository: `<repo>@sha256:<hex>`.
      const repo = String(inputs.imageName).replace(/:[^:/]+$/, "");
      return { ...inputs, repoDigest: `${repo}@${mockDigest(name)}` };
    }
    case "aws:ecr/repository:Repository":
      return {
        ...inputs,
        arn: `arn:aws:ecr:${MOCK_AWS.region}:${MOCK_AWS.account}:repository/${inputs.name}`,
        registryId: MOCK_AWS.account,
        repositoryUrl: `${REGISTRY}/${inputs.name}`,
      };
    case "aws:iam/role:Role":
    case "aws:iam/policy:Policy": {
      const kind = type === "aws:iam/role:Role" ? "role" : "policy";
      return {
        ...inputs,
        name: inputs.name ?? name,
        arn: `arn:aws:iam::${MOCK_AWS.account}:${kind}/${name}`,
      };
    }
    case "kubernetes:core/v1:Service": {
      const lb = inputs.spec?.type === "LoadBalancer";
      return {
        ...inputs,
        name: inputs.name ?? name,
        ...(lb ? { status: { loadBalancer: { ingress: [{ hostname: MOCK_AWS.nlbHostname }] } } } : {}),
      };
    }
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
          dependencies: meta?.dependencies ?? [],
          retainOnDelete: meta?.retainOnDelete ?? false,
        });
        return { id: `${args.name}-id`, state: computedState(args.type, args.name, inputs) };
      },
      call: (args) => {
        if (args.token === "aws:ecr/getAuthorizationToken:getAuthorizationToken") {
          return {
            ...args.inputs,
            userName: "AWS",
            password: "mock-ecr-password",
            proxyEndpoint: `https://${REGISTRY}`,
            authorizationToken: "bW9jaw==",
            expiresAt: "2030-01-01T00:00:00Z",
            id: MOCK_AWS.region,
            region: MOCK_AWS.region,
          };
        }
        return args.inputs;
      },
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
      dependencies: req.getDependenciesList(),
      retainOnDelete: req.getRetainondelete(),
    });
    return register(req, callback);
  };
  pulumi.runtime.setAllConfig(config, secretKeys);
  // `require`, not `import()`: under node16 module resolution a CommonJS file keeps `import()`
  // native, which Jest cannot load; the mocks are set either way before the program loads.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const program = require("../../infra/index") as Record<string, unknown>;
  return { program, resources };
}

/**
 * Resolves once every resource the program declared is registered and every output it waits on
 * has settled: Pulumi's own RPC queue has drained (`waitForRPCs`, which `disconnect` uses too).
 */
export async function settled(): Promise<void> {
  const wait = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  if (wait === undefined) throw new Error("this @pulumi/pulumi has no runtime.waitForRPCs");
  await wait();
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

/**
 * The inputs of the Kubernetes object of one type token (`kubernetes:apps/v1:Deployment`) with
 * that `metadata.name`; throws when there is none.
 */
export function kubernetesObject(
  resources: readonly Recorded[],
  type: string,
  name: string,
): Record<string, any> {
  const found = ofType(resources, type).find((r) => r.inputs.metadata?.name === name);
  if (!found) throw new Error(`no ${type} named ${name}`);
  return found.inputs;
}
