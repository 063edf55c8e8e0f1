/**
 * One topology component as Docker containers: one container per replica, on exactly the
 * networks the topology gives it, publishing exactly its host ports, with a health check, a
 * restart policy, and the image by digest.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { ComponentSpec, NetworkName } from "../topology";
import { healthPortOf } from "../topology";

/** Arguments of `DockerWorkload`. */
export interface DockerWorkloadArgs {
  readonly spec: ComponentSpec;
  /** Image reference: a local image ID or a pinned registry reference. */
  readonly image: pulumi.Input<string>;
  /** Docker network names by topology network. */
  readonly networks: Readonly<Record<NetworkName, pulumi.Input<string>>>;
  /** Secret env values, already resolved from config. */
  readonly secretEnv?: Readonly<Record<string, pulumi.Input<string>>>;
  /** Host address the published ports bind to. */
  readonly publishAddress: string;
  readonly command?: readonly string[];
  /** Files written into every container before it starts. */
  readonly uploads?: readonly { readonly file: string; readonly content: pulumi.Input<string> }[];
  /** A fixed address on one network (single-replica components only). */
  readonly fixedAddress?: { readonly network: NetworkName; readonly ipv4: string };
  /** Our own images run with a read-only root filesystem and a small /tmp. */
  readonly readOnlyRootFs: boolean;
  /** Capabilities added back after dropping all (an entrypoint that switches user needs a few). */
  readonly capabilityAdds?: readonly string[];
  /** Docker volume name for `spec.volume`. */
  readonly volumeName?: pulumi.Input<string>;
  /** How the container is stopped; `GRACEFUL_STOP` unless the image stops otherwise. */
  readonly stop?: ContainerStop;
}

/** The signal that stops a container gracefully, and how long it may take before SIGKILL. */
export interface ContainerStop {
  readonly signal: string;
  readonly timeoutSeconds: number;
}

/**
 * Our services deregister from Consul and drain on SIGTERM within `SHUTDOWN_TIMEOUT_MS` (25 s by
 * default); 30 s leaves them the margin.
 */
export const GRACEFUL_STOP: ContainerStop = { signal: "SIGTERM", timeoutSeconds: 30 };

/**
 * The container health check for a component: our images carry Node, whose `fetch` probes the
 * live route; the upstream Alpine images carry busybox `wget`.
 */
export function healthcheckTest(spec: ComponentSpec): string[] {
  if (spec.livePath === undefined) throw new Error(`component "${spec.name}" has no health path`);
  const url = `http://127.0.0.1:${healthPortOf(spec)}${spec.livePath}`;
  if (spec.image.kind === "build") {
    return ["CMD", "node", "-e", `fetch('${url}').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`];
  }
  return ["CMD", "wget", "-q", "-O", "/dev/null", url];
}

/** Container names: the bare name for a singleton, `<name>-<n>` for replicas. */
export function containerNames(spec: ComponentSpec): string[] {
  if (spec.replicas === 1 && spec.role === "infrastructure") return [spec.name];
  return Array.from({ length: spec.replicas }, (_, i) => `${spec.name}-${i + 1}`);
}

/** All replicas of one component. */
export class DockerWorkload extends pulumi.ComponentResource {
  readonly containers: docker.Container[];

  constructor(name: string, args: DockerWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:docker:DockerWorkload", name, {}, opts);
    const { spec } = args;
    if (args.fixedAddress && spec.replicas !== 1) {
      throw new Error(`component "${spec.name}" has a fixed address but ${spec.replicas} replicas`);
    }
    const secrets = args.secretEnv ?? {};
    const stop = args.stop ?? GRACEFUL_STOP;
    const envs = pulumi
      .all(Object.entries(secrets).map(([k, v]) => pulumi.output(v).apply((value) => `${k}=${value}`)))
      .apply((secretPairs) => [...Object.entries(spec.env).map(([k, v]) => `${k}=${v}`), ...secretPairs]);

    this.containers = containerNames(spec).map(
      (containerName) =>
        new docker.Container(
          containerName,
          {
            name: containerName,
            hostname: containerName,
            image: args.image,
            envs: Object.keys(secrets).length > 0 ? pulumi.secret(envs) : envs,
            ...(args.command ? { command: [...args.command] } : {}),
            networksAdvanced: spec.networks.map((n) => ({
              name: args.networks[n],
              aliases: [spec.name],
              ...(args.fixedAddress?.network === n ? { ipv4Address: args.fixedAddress.ipv4 } : {}),
            })),
            ports: spec.hostPorts.map((p) => ({
              internal: p.container,
              external: p.host,
              ip: args.publishAddress,
              protocol: "tcp",
            })),
            healthcheck: {
              tests: healthcheckTest(spec),
              interval: "10s",
              timeout: "3s",
              retries: 3,
              startPeriod: "20s",
            },
            restart: "unless-stopped",
            capabilities: {
              drops: ["ALL"],
              ...(args.capabilityAdds ? { adds: [...args.capabilityAdds] } : {}),
            },
            securityOpts: ["no-new-privileges:true"],
            readOnly: args.readOnlyRootFs,
            ...(args.readOnlyRootFs ? { tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" } } : {}),
            ...(args.uploads
              ? { uploads: args.uploads.map((u) => ({ file: u.file, content: u.content })) }
              : {}),
            ...(spec.volume && args.volumeName
              ? { volumes: [{ volumeName: args.volumeName, containerPath: spec.volume.mountPath }] }
              : {}),
            labels: [
              { label: "mcp-platform.component", value: spec.name },
              { label: "mcp-platform.role", value: spec.role },
            ],
            // `docker stop` (a restart) and Pulumi's delete (a replacement, `pulumi destroy`) both
            // stop gracefully: without destroyGraceSeconds the provider removes a running
            // container by force, a SIGKILL with no drain and no Consul deregistration.
            stopSignal: stop.signal,
            stopTimeout: stop.timeoutSeconds,
            destroyGraceSeconds: stop.timeoutSeconds,
            // Our images run Node as the main process; Docker's init reaps what the bridged stdio
            // servers leave orphaned (Node does not reap processes it did not start).
            init: spec.image.kind === "build",
            mustRun: true,
          },
          // Fixed container names and host ports cannot exist twice, so replace by deleting first.
          { parent: this, deleteBeforeReplace: true },
        ),
    );
    this.registerOutputs({ containers: this.containers.map((c) => c.name) });
  }
}
