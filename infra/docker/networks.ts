/**
 * The dev stack's two Docker networks: `sutazai-network` for infrastructure and the outside
 * world, and `mcp-internal` (internal, 172.20.0.0/24) for the router and MCP services.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { NetworkName, NetworkSpec } from "../topology";

/** Arguments of `DockerNetworks`. */
export interface DockerNetworksArgs {
  readonly networks: readonly NetworkSpec[];
}

/** Creates one Docker network per topology network, under its exact name. */
export class DockerNetworks extends pulumi.ComponentResource {
  /** Network names by topology name, resolved once each network exists. */
  readonly names: Record<NetworkName, pulumi.Output<string>>;

  constructor(name: string, args: DockerNetworksArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:docker:DockerNetworks", name, {}, opts);
    const names = {} as Record<NetworkName, pulumi.Output<string>>;
    for (const spec of args.networks) {
      const network = new docker.Network(
        `${name}-${spec.name}`,
        {
          name: spec.name,
          driver: "bridge",
          internal: spec.internal,
          ...(spec.subnet ? { ipamConfigs: [{ subnet: spec.subnet }] } : {}),
          labels: [{ label: "mcp-platform.network", value: spec.name }],
        },
        // A fixed name cannot exist twice, so a replacement must delete first.
        { parent: this, deleteBeforeReplace: true },
      );
      names[spec.name] = network.name;
    }
    this.names = names;
    this.registerOutputs({ names });
  }
}
