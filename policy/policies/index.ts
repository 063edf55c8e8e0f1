/**
 * Every policy of the pack, built from the shipped settings. Pure: importing this starts
 * nothing, so tests run the policies directly (`../index.ts` creates the PolicyPack).
 */
import type { Policies } from "@pulumi/policy";
import {
  hardenedContainers,
  hpaBounds,
  pinnedImages,
  probesSet,
  resourcesSet,
  restartPolicySet,
} from "./hygiene";
import {
  dualHomedInfrastructureOnly,
  internalNamespaceDefaultDeny,
  internalNetworkIsolated,
  mcpWorkloadsInternalOnly,
  noHostNetworking,
  noPublicServices,
} from "./isolation";
import {
  mcpServicePortsInRange,
  noPortCollisions,
  publicTargetPortsInPlan,
  publishedPortsInPlan,
} from "./ports";
import type { IsolationSettings, PortPlan } from "./settings";
import { DEFAULT_ISOLATION, DEFAULT_PORT_PLAN } from "./settings";

/** Settings for the whole pack. */
export interface PackSettings {
  readonly isolation?: IsolationSettings;
  readonly ports?: PortPlan;
  readonly hpaMinReplicas?: number;
}

/** All policies, grouped by domain: isolation, ports, hygiene. */
export function allPolicies(settings: PackSettings = {}): Policies {
  const isolation = settings.isolation ?? DEFAULT_ISOLATION;
  const ports = settings.ports ?? DEFAULT_PORT_PLAN;
  return [
    internalNetworkIsolated(isolation),
    mcpWorkloadsInternalOnly(isolation),
    dualHomedInfrastructureOnly(isolation),
    internalNamespaceDefaultDeny(isolation),
    noPublicServices(isolation),
    noHostNetworking(),
    publishedPortsInPlan(ports),
    publicTargetPortsInPlan(ports),
    mcpServicePortsInRange(ports),
    noPortCollisions(),
    pinnedImages(),
    hardenedContainers(),
    resourcesSet(),
    probesSet(),
    hpaBounds(settings.hpaMinReplicas ?? 2),
    restartPolicySet(),
  ];
}
