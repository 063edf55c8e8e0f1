/**
 * The MCP Platform program: reads the stack config, derives the topology, and composes the
 * target the config names (`target: docker` or `target: eks`, never the stack's name). Stack
 * outputs are the URLs and ready-to-paste client settings; an output a target has no value for is
 * left out.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "./config";
import { checkSecretConfig, parseStackConfig, rawFromPulumiConfig } from "./config";
import { DevStack } from "./docker/dev-stack";
import { ProdStack } from "./eks/prod-stack";
import { checkStdioLock } from "./stdio-lock";
import type { Topology } from "./topology";
import { buildTopology, stdioPackages } from "./topology";

/** What either target exports. */
interface StackOutputs {
  readonly gatewayUrl: pulumi.Input<string>;
  readonly cursorConfig: pulumi.Input<string>;
  readonly claudeCodeCommand: pulumi.Input<string>;
  readonly serviceUrls: pulumi.Input<Record<string, string>>;
  readonly consulUrl?: string;
  readonly dashboardUrl?: string;
  readonly haproxyStatsUrl?: string;
  readonly containers?: pulumi.Input<string>[];
  readonly kubeconfig?: pulumi.Output<string>;
  readonly portForward?: Record<string, string>;
  readonly deployments?: pulumi.Output<string[]>;
  readonly loadBalancerHostname?: pulumi.Output<string>;
}

const allConfig = pulumi.runtime.allConfig();
const config = parseStackConfig(rawFromPulumiConfig(allConfig));
checkSecretConfig(allConfig);
const topology = buildTopology(config);
const context = path.resolve(__dirname, "..");
// Before any image builds: the mcp-server image installs its stdio servers from this lock.
checkStdioLock(stdioPackages(config.services), context);

function docker(cfg: StackConfig, t: Topology): StackOutputs {
  const dev = new DevStack("mcp-platform", {
    topology: t,
    context,
    imageTag: pulumi.getStack(),
    publishAddress: cfg.publishAddress,
  });
  return {
    gatewayUrl: dev.gatewayUrl,
    cursorConfig: dev.cursorConfig,
    claudeCodeCommand: dev.claudeCodeCommand,
    serviceUrls: dev.serviceUrls,
    consulUrl: dev.consulUrl,
    dashboardUrl: dev.dashboardUrl,
    haproxyStatsUrl: dev.statsUrl,
    containers: Object.values(dev.workloads).flatMap((w) => w.containers.map((c) => c.name)),
  };
}

function eks(cfg: StackConfig, t: Topology): StackOutputs {
  if (cfg.eks === undefined) throw new Error("mcp-platform:eks: is required when target is eks");
  const prod = new ProdStack("mcp-platform", {
    topology: t,
    eks: cfg.eks,
    context,
    imageTag: pulumi.getStack(),
    repositoryPrefix: `mcp-platform/${pulumi.getStack()}`,
  });
  return {
    gatewayUrl: prod.gatewayUrl,
    cursorConfig: prod.cursorConfig,
    claudeCodeCommand: prod.claudeCodeCommand,
    serviceUrls: prod.serviceUrls,
    kubeconfig: prod.kubeconfig,
    portForward: prod.portForward,
    deployments: prod.deployments,
    loadBalancerHostname: prod.loadBalancerHostname,
  };
}

const outputs = config.target === "eks" ? eks(config, topology) : docker(config, topology);

/** The MCP gateway (Streamable HTTP); legacy SSE clients use `/sse` on the same host and port. */
export const gatewayUrl = outputs.gatewayUrl;
/** Paste into `~/.cursor/mcp.json`. */
export const cursorConfig = outputs.cursorConfig;
/** Run to add the gateway to Claude Code. */
export const claudeCodeCommand = outputs.claudeCodeCommand;
/** Direct access to one MCP service each, bypassing the router (prod: only when exposed). */
export const serviceUrls = outputs.serviceUrls;
/** Dev: the Consul UI. */
export const consulUrl = outputs.consulUrl;
/** Dev: the monitor's dashboard. */
export const dashboardUrl = outputs.dashboardUrl;
/** Dev: the HAProxy stats page. */
export const haproxyStatsUrl = outputs.haproxyStatsUrl;
/** Dev: every container the stack runs, by name. */
export const containers = outputs.containers;
/** Prod: the cluster's admin kubeconfig (secret): `pulumi stack output --show-secrets kubeconfig`. */
export const kubeconfig = outputs.kubeconfig;
/** Prod: `kubectl port-forward` commands for the dashboard, the Consul UI and the stats page. */
export const portForward = outputs.portForward;
/** Prod: every Deployment, as `<namespace>/<name>`. */
export const deployments = outputs.deployments;
/** Prod: the NLB's DNS name, which `eks.tls.hostname` must point at (CNAME or alias record). */
export const loadBalancerHostname = outputs.loadBalancerHostname;
