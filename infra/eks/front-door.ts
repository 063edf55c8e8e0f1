/**
 * HAProxy as the prod front door: its config comes from the same renderer as dev, with backends
 * found through Kubernetes DNS over the router's and services' headless Services, mounted from a
 * ConfigMap. It sits behind the stack's only non-ClusterIP Service: a `LoadBalancer` that the AWS
 * Load Balancer Controller turns into an internet-facing NLB sending traffic straight to pod IPs.
 */
import { createHash } from "node:crypto";
import { basename, dirname } from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { gatewayUrl } from "../client-config";
import type { Tls } from "../config";
import { cpuMillis, memoryBytes } from "../config";
import { HAPROXY_CONFIG_PATH, maxConnectionsFor, renderHaproxyConfig, threadsFor } from "../haproxy";
import type { ComponentSpec, Topology } from "../topology";
import { component, healthPortOf } from "../topology";
import { labelsOf, portName, selectorOf } from "./pod-spec";
import { KubernetesWorkload } from "./workload";

/**
 * The `LoadBalancer` Service's name. HAProxy's own ClusterIP Service keeps the component's name
 * (`haproxy`), which in-cluster peers (the monitor) and port-forwards use for the stats page.
 */
export function loadBalancerServiceName(haproxy: Pick<ComponentSpec, "name">): string {
  return `${haproxy.name}-public`;
}

/**
 * The services' setting for extra `Host` names they accept (DNS-rebinding protection accepts
 * cluster-internal names on its own, not a public load balancer's name).
 */
export const ALLOWED_HOSTS_ENV = "MCP_ALLOWED_HOSTS";

/**
 * The env that lets a component answer requests addressed to the load balancer: the router and
 * the MCP services speak MCP over HTTP and see the client's `Host`, which HAProxy passes through.
 * The names the stack config adds (`allowedHosts`, already in the component's env) come after
 * the load balancer's; the pod's env takes this value in place of the topology's.
 */
export function publicHostEnv(
  spec: ComponentSpec,
  hostnames: pulumi.Input<string>,
): Record<string, pulumi.Output<string>> {
  if (spec.role !== "gateway" && spec.role !== "mcp-service") return {};
  const configured = spec.env[ALLOWED_HOSTS_ENV];
  return {
    [ALLOWED_HOSTS_ENV]: pulumi
      .output(hostnames)
      .apply((names) => (configured === undefined ? names : `${names},${configured}`)),
  };
}

/**
 * Seconds a stopping HAProxy pod keeps accepting before its graceful stop: the NLB sends new
 * connections to a target for a while after the controller deregisters it, and a pod that had
 * already closed its listeners would refuse them. Its grace period grows by as much.
 */
export const HAPROXY_STOP_DELAY_SECONDS = 20;

/** The pod annotation that carries the config's hash, so a config change rolls the pods. */
export const CONFIG_HASH_ANNOTATION = "mcp-platform/haproxy-config-sha256";

/**
 * Annotations for the AWS Load Balancer Controller: an NLB (`external`) with IP targets, on the
 * internet (the default scheme is internal), health-checked on HAProxy's `/healthz`.
 *
 * The target groups preserve the client's address (off by default for IP targets, which then see
 * the address of whichever NLB node carried the connection): HAProxy's `X-Forwarded-For` and
 * access log name the real client, and a direct port's `balance source` keeps one client on one
 * mcp-server instance, where a client's legacy SSE stream and its POSTs could otherwise come
 * through different NLB nodes and land on different instances. The controller lets the NLB's
 * security group reach the pods, so no client address range needs opening.
 *
 * When the direct service ports are public and more than one HAProxy pod runs, the target groups
 * stick each client's source IP to one pod: a direct port pins an MCP session to its mcp-server
 * instance in that pod's own stick table, which the other pods do not share. The gateway needs no
 * such stickiness (any router serves any session), so without public direct ports it stays off
 * and clients spread evenly over the pods.
 */
export function loadBalancerAnnotations(
  topology: Topology,
  exposeServicePorts: boolean,
  tls?: Tls,
): Record<string, string> {
  const haproxy = component(topology, "haproxy");
  if (haproxy.livePath === undefined) throw new Error(`component "${haproxy.name}" has no health route`);
  const prefix = "service.beta.kubernetes.io/aws-load-balancer";
  return {
    [`${prefix}-type`]: "external",
    [`${prefix}-nlb-target-type`]: "ip",
    [`${prefix}-scheme`]: "internet-facing",
    [`${prefix}-healthcheck-protocol`]: "http",
    [`${prefix}-healthcheck-port`]: String(healthPortOf(haproxy)),
    [`${prefix}-healthcheck-path`]: haproxy.livePath,
    [`${prefix}-attributes`]: "load_balancing.cross_zone.enabled=true",
    [`${prefix}-target-group-attributes`]: [
      "preserve_client_ip.enabled=true",
      ...(exposeServicePorts && haproxy.replicas > 1
        ? ["stickiness.enabled=true", "stickiness.type=source_ip"]
        : []),
    ].join(","),
    ...(tls === undefined
      ? {}
      : {
          // Every listener terminates TLS (no plain-text port beside it), on TLS 1.3 and 1.2 only;
          // the NLB speaks plain TCP to HAProxy inside the VPC.
          [`${prefix}-ssl-cert`]: tls.certificateArn,
          [`${prefix}-ssl-ports`]: publicPorts(topology, exposeServicePorts).join(","),
          [`${prefix}-ssl-negotiation-policy`]: TLS_POLICY,
        }),
  };
}

/** The NLB's TLS policy: TLS 1.3 and 1.2 with forward secrecy (AWS's recommended policy). */
export const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/**
 * Where clients reach the front door: the operator's host name over TLS when `tls` is set (the
 * certificate is for that name), else the load balancer's own name over plain HTTP.
 */
export function publicEndpoint(
  loadBalancerHost: string,
  tls: Tls | undefined,
): { host: string; scheme: "http" | "https" } {
  return tls === undefined
    ? { host: loadBalancerHost, scheme: "http" }
    : { host: tls.hostname, scheme: "https" };
}

/**
 * The host names the router and the MCP services accept in `Host` beyond cluster-internal ones:
 * the load balancer's, and the TLS host name that clients use when there is one.
 */
export function publicHostNames(loadBalancerHost: string, tls: Tls | undefined): string {
  return tls === undefined ? loadBalancerHost : `${tls.hostname},${loadBalancerHost}`;
}

/**
 * The ports the NLB listens on: the gateway always; each MCP service's direct port only when
 * `eks.exposeServicePorts` says so. The stats page is never public (reach it by port-forward).
 */
export function publicPorts(topology: Topology, exposeServicePorts: boolean): number[] {
  return [topology.ports.gateway, ...(exposeServicePorts ? topology.catalog.map((c) => c.port) : [])];
}

/** The `LoadBalancer` Service spec in front of the HAProxy pods. */
export function loadBalancerServiceSpec(
  topology: Topology,
  exposeServicePorts: boolean,
): k8s.types.input.core.v1.ServiceSpec {
  const haproxy = component(topology, "haproxy");
  return {
    type: "LoadBalancer",
    selector: selectorOf(haproxy),
    ports: publicPorts(topology, exposeServicePorts).map((port) => ({
      name: portName(haproxy, port),
      port,
      targetPort: portName(haproxy, port),
      protocol: "TCP",
    })),
  };
}

/** HAProxy's `maxconn` and `nbthread` from its container's memory and CPU limits, when it has them. */
export function haproxyLimits(haproxy: ComponentSpec): { maxConnections?: number; threads?: number } {
  const limits = haproxy.resources?.limits;
  return limits === undefined
    ? {}
    : {
        maxConnections: maxConnectionsFor(memoryBytes(limits.memory)),
        threads: threadsFor(cpuMillis(limits.cpu)),
      };
}

/** The SHA-256 of a config text, hex. */
export function configHash(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Arguments of `FrontDoor`. */
export interface FrontDoorArgs {
  readonly topology: Topology;
  readonly namespace: string;
  /** Also publish the direct 111xx ports on the load balancer. */
  readonly exposeServicePorts: boolean;
  /** TLS on the load balancer's listeners. */
  readonly tls?: Tls;
}

/** HAProxy's ConfigMap, Deployment, Services and the internet-facing NLB. */
export class FrontDoor extends pulumi.ComponentResource {
  /** The rendered `haproxy.cfg`. */
  readonly haproxyConfig: string;
  readonly workload: KubernetesWorkload;
  readonly loadBalancer: k8s.core.v1.Service;
  /** The NLB's DNS name, once the controller has provisioned it. */
  readonly hostname: pulumi.Output<string>;
  /** `MCP_ALLOWED_HOSTS` for the router and the MCP services (`publicHostNames`). */
  readonly allowedHosts: pulumi.Output<string>;
  readonly gatewayUrl: pulumi.Output<string>;
  /** Public direct URLs per service id, when the service ports are exposed. */
  readonly serviceUrls: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: FrontDoorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:FrontDoor", name, {}, opts);
    const { topology, namespace } = args;
    const haproxy = component(topology, "haproxy");
    if (haproxy.image.kind !== "registry") throw new Error("haproxy must run its upstream image");
    // A fixed name cannot exist twice, so a replacement must delete first.
    const child = { parent: this, deleteBeforeReplace: true };

    this.haproxyConfig = renderHaproxyConfig(
      topology,
      { kind: "kubernetes-dns" },
      { tlsTerminatedInFront: args.tls !== undefined, ...haproxyLimits(haproxy) },
    );
    const configName = `${haproxy.name}-config`;
    const configMap = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      {
        metadata: { name: configName, namespace, labels: labelsOf(haproxy) },
        data: { [basename(HAPROXY_CONFIG_PATH)]: this.haproxyConfig },
      },
      child,
    );

    this.workload = new KubernetesWorkload(
      haproxy.name,
      {
        spec: haproxy,
        namespace,
        image: haproxy.image.ref,
        mounts: [
          {
            name: "config",
            mountPath: dirname(HAPROXY_CONFIG_PATH),
            readOnly: true,
            source: { configMap: { name: configName } },
          },
        ],
        podAnnotations: { [CONFIG_HASH_ANNOTATION]: configHash(this.haproxyConfig) },
        stopDelaySeconds: HAPROXY_STOP_DELAY_SECONDS,
      },
      { parent: this, dependsOn: [configMap] },
    );

    this.loadBalancer = new k8s.core.v1.Service(
      `${name}-public`,
      {
        metadata: {
          name: loadBalancerServiceName(haproxy),
          namespace,
          labels: labelsOf(haproxy),
          annotations: loadBalancerAnnotations(topology, args.exposeServicePorts, args.tls),
        },
        spec: loadBalancerServiceSpec(topology, args.exposeServicePorts),
      },
      child,
    );
    this.hostname = this.loadBalancer.status.loadBalancer.ingress.apply((ingress) => {
      const host = ingress?.[0]?.hostname;
      if (host === undefined) throw new Error("the load balancer reported no hostname");
      return host;
    });
    this.allowedHosts = this.hostname.apply((host) => publicHostNames(host, args.tls));
    const endpoint = this.hostname.apply((host) => publicEndpoint(host, args.tls));
    this.gatewayUrl = endpoint.apply(({ host, scheme }) => gatewayUrl(host, topology.ports.gateway, scheme));
    this.serviceUrls = endpoint.apply(({ host, scheme }) =>
      args.exposeServicePorts
        ? Object.fromEntries(topology.catalog.map((c) => [c.id, `${scheme}://${host}:${c.port}/mcp`]))
        : {},
    );
    this.registerOutputs({ gatewayUrl: this.gatewayUrl, serviceUrls: this.serviceUrls });
  }
}
