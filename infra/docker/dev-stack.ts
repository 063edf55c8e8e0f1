/**
 * The dev target: the whole platform on the local Docker engine, wired from the topology.
 * Consul gets a fixed address on `mcp-internal` so HAProxy's resolver reaches it without DNS.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { claudeCodeCommand, cursorConfig, gatewayUrl } from "../client-config";
import { HAPROXY_CONFIG_PATH, HAPROXY_HARD_STOP_SECONDS, renderHaproxyConfig } from "../haproxy";
import { resolveSecretEnv } from "../secrets";
import type { ComponentSpec, Topology } from "../topology";
import { CONSUL_INTERNAL_IP, CONTAINER_PORT, NETWORK } from "../topology";
import { ServiceImages } from "./images";
import { DockerNetworks } from "./networks";
import type { DockerWorkloadArgs } from "./workload";
import { DockerWorkload } from "./workload";

/** Where HAProxy reads its config (defined with the renderer; kept here for existing importers). */
export { HAPROXY_CONFIG_PATH } from "../haproxy";

/** Arguments of `DevStack`. */
export interface DevStackArgs {
  readonly topology: Topology;
  /** Repository root, the images' build context. */
  readonly context: string;
  /** Tag of the locally built images. */
  readonly imageTag: string;
  /** Host address for published ports. */
  readonly publishAddress: string;
}

/** The dev stack on Docker. */
export class DevStack extends pulumi.ComponentResource {
  readonly gatewayUrl: string;
  readonly cursorConfig: string;
  readonly claudeCodeCommand: string;
  readonly consulUrl: string;
  readonly dashboardUrl: string;
  readonly statsUrl: string;
  readonly serviceUrls: Record<string, string>;
  readonly haproxyConfig: string;
  readonly workloads: Record<string, DockerWorkload>;

  constructor(name: string, args: DevStackArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:docker:DevStack", name, {}, opts);
    const { topology } = args;
    const networks = new DockerNetworks(
      `${name}-networks`,
      { networks: topology.networks },
      { parent: this },
    );
    const images = new ServiceImages(
      `${name}-images`,
      { builds: topology.images, context: args.context, tag: args.imageTag },
      { parent: this },
    );
    this.haproxyConfig = renderHaproxyConfig(topology, {
      kind: "consul-dns",
      nameserver: `${CONSUL_INTERNAL_IP}:${CONTAINER_PORT.consulDns}`,
    });

    const imageOf = (spec: ComponentSpec): pulumi.Input<string> => {
      if (spec.image.kind === "build") return images.refs[spec.image.service];
      return new docker.RemoteImage(
        `${name}-${spec.name}-image`,
        { name: spec.image.ref, keepLocally: true },
        { parent: this },
      ).imageId;
    };

    // What only some components need, on top of what the topology says of every component.
    const extras: Record<string, Partial<DockerWorkloadArgs>> = {
      consul: {
        command: [
          "agent",
          "-dev",
          "-ui",
          "-client=0.0.0.0",
          `-bind=${CONSUL_INTERNAL_IP}`,
          `-dns-port=${CONTAINER_PORT.consulDns}`,
        ],
        fixedAddress: { network: NETWORK.internal, ipv4: CONSUL_INTERNAL_IP },
        // The image's entrypoint chowns its data folder and drops to the consul user; its init
        // (dumb-init, root) forwards the stop signal to that other user's process, which needs
        // KILL, or every stop would wait out the timeout and end in SIGKILL.
        capabilityAdds: ["CHOWN", "KILL", "SETGID", "SETUID"],
        readOnlyRootFs: false,
      },
      haproxy: {
        uploads: [{ file: HAPROXY_CONFIG_PATH, content: this.haproxyConfig }],
        readOnlyRootFs: false,
        // The image's own stop signal: SIGUSR1 stops HAProxy softly (SIGTERM is its hard stop),
        // finishing open requests until `hard-stop-after`.
        stop: { signal: "SIGUSR1", timeoutSeconds: HAPROXY_HARD_STOP_SECONDS + 5 },
      },
    };

    this.workloads = {};
    let consul: DockerWorkload | undefined;
    for (const spec of topology.components) {
      // The service's data outlives the stack: `pulumi destroy` (or a replacement of the volume)
      // leaves the Docker volume, which a later `pulumi up` takes up again under its fixed name
      // (README, "What the dev stack runs").
      const volume = spec.volume
        ? new docker.Volume(
            `${name}-${spec.name}-data`,
            { name: `${spec.name}-data` },
            { parent: this, retainOnDelete: true },
          ).name
        : undefined;
      const workload: DockerWorkload = new DockerWorkload(
        spec.name,
        {
          spec,
          image: imageOf(spec),
          networks: networks.names,
          secretEnv: resolveSecretEnv(spec, this),
          publishAddress: args.publishAddress,
          readOnlyRootFs: spec.image.kind === "build",
          ...(volume ? { volumeName: volume } : {}),
          ...extras[spec.name],
        },
        { parent: this, ...(consul ? { dependsOn: [consul] } : {}) },
      );
      if (spec.name === "consul") consul = workload;
      this.workloads[spec.name] = workload;
    }

    const host = args.publishAddress === "0.0.0.0" ? "localhost" : args.publishAddress;
    this.gatewayUrl = gatewayUrl(host, topology.ports.gateway);
    this.cursorConfig = cursorConfig(this.gatewayUrl);
    this.claudeCodeCommand = claudeCodeCommand(this.gatewayUrl);
    this.consulUrl = `http://${host}:${topology.ports.consul}/ui/`;
    this.dashboardUrl = `http://${host}:${topology.ports.monitor}/`;
    this.statsUrl = `http://${host}:${topology.ports.stats}/`;
    this.serviceUrls = Object.fromEntries(
      topology.catalog.map((c) => [c.id, `http://${host}:${c.port}/mcp`]),
    );
    this.registerOutputs({
      gatewayUrl: this.gatewayUrl,
      consulUrl: this.consulUrl,
      dashboardUrl: this.dashboardUrl,
      statsUrl: this.statsUrl,
    });
  }
}
