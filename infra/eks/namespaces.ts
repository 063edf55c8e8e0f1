/**
 * The prod stack's two namespaces, counterparts of the dev networks (DESIGN "Prod stack"):
 * `mcp-platform` for HAProxy, Consul and the monitor, `mcp-internal` for the router and the MCP
 * services. Pod Security admission backs up the pods' own hardening: `mcp-internal` enforces the
 * `restricted` standard; `mcp-platform` enforces `baseline` (the Consul chart's pods) and warns on
 * anything short of `restricted`.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { NamespaceName } from "../topology";
import { NAMESPACE } from "../topology";
import { PART_OF } from "./pod-spec";

/**
 * A namespace's labels: Pod Security levels, and in `mcp-platform` the load balancer controller's
 * readiness-gate injection, so a HAProxy rollout waits until the NLB sees the new pod healthy.
 */
export function namespaceLabels(namespace: NamespaceName): Record<string, string> {
  const podSecurity = (enforce: "restricted" | "baseline") => ({
    "pod-security.kubernetes.io/enforce": enforce,
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/audit": "restricted",
  });
  if (namespace === NAMESPACE.internal) {
    return { "app.kubernetes.io/part-of": PART_OF, ...podSecurity("restricted") };
  }
  return {
    "app.kubernetes.io/part-of": PART_OF,
    ...podSecurity("baseline"),
    "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled",
  };
}

/** Arguments of `PlatformNamespaces`. */
export type PlatformNamespacesArgs = Record<string, never>;

/** Both namespaces, under their fixed names. */
export class PlatformNamespaces extends pulumi.ComponentResource {
  readonly namespaces: Record<NamespaceName, k8s.core.v1.Namespace>;

  constructor(name: string, _args: PlatformNamespacesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:PlatformNamespaces", name, {}, opts);
    const namespaces = {} as Record<NamespaceName, k8s.core.v1.Namespace>;
    for (const ns of Object.values(NAMESPACE)) {
      namespaces[ns] = new k8s.core.v1.Namespace(
        `${name}-${ns}`,
        { metadata: { name: ns, labels: namespaceLabels(ns) } },
        // A fixed name cannot exist twice, so a replacement must delete first.
        { parent: this, deleteBeforeReplace: true },
      );
    }
    this.namespaces = namespaces;
    this.registerOutputs({ namespaces: Object.values(namespaces).map((n) => n.metadata.name) });
  }
}
