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
    // Networks with a fixed subnet first: one without takes its subnet from Docker's pool
    // (172.17.0.0/16, 172.18.0.0/16, …), and if it were created first it could take the range
    // a fixed subnet needs, which would then fail with "Pool overlaps".
    const fixed: docker.Network[] = [];
    const ordered = [...args.networks].sort(
      (a, b) => Number(b.subnet !== undefined) - Number(a.subnet !== undefined),
    );
    for (const spec of ordered) {
      const network = new docker.Network(
        `${name}-${spec.name}`,
        {
          name: spec.name,
          driver: "bridge",
          internal: spec.internal,
          ...(spec.subnet
            ? { ipamConfigs: [{ subnet: spec.subnet, ...(spec.ipRange ? { ipRange: spec.ipRange } : {}) }] }
            : {}),
          labels: [{ label: "mcp-platform.network", value: spec.name }],
        },
        // A fixed name cannot exist twice, so a replacement must delete first.
        { parent: this, deleteBeforeReplace: true, ...(spec.subnet ? {} : { dependsOn: fixed }) },
      );
      if (spec.subnet) fixed.push(network);
      names[spec.name] = network.name;
    }
    this.names = names;
    this.registerOutputs({ names });
  }
}
