import * as pulumi from "@pulumi/pulumi";
import { renderHaproxyConfig } from "../../../infra/haproxy";
import { buildTopology } from "../../../infra/topology";
import { configHash, HAPROXY_STOP_DELAY_SECONDS } from "../../../infra/eks/front-door";
import { haproxyCheck } from "../../helpers/haproxy";
import type { Recorded } from "../../helpers/pulumi-mocks";
import {
  kubernetesObject,
  MOCK_AWS,
  mockDigest,
  ofType,
  runProgram,
  secretValue,
  settled,
  valueOf,
} from "../../helpers/pulumi-mocks";
import { stackConfig, stackConfigMap } from "../../helpers/stack-files";

const T = {
  deployment: "kubernetes:apps/v1:Deployment",
  service: "kubernetes:core/v1:Service",
  hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  policy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  release: "kubernetes:helm.sh/v3:Release",
  namespace: "kubernetes:core/v1:Namespace",
};
const INTERNAL = ["router", "mcp-files", "mcp-memory", "mcp-everything", "mcp-echo"];
const PLATFORM = ["network-monitor", "haproxy"];
const SCALED = ["router", "mcp-files", "mcp-everything", "mcp-echo"];
const REGISTRY = `${MOCK_AWS.account}.dkr.ecr.${MOCK_AWS.region}.amazonaws.com`;
const prod = stackConfig("prod");
/** What every container must run with, written out (not derived from the code under test). */
const HARDENED = {
  runAsNonRoot: true,
  privileged: false,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};
const eks = prod.eks!;

let resources: Recorded[];
let program: Record<string, unknown>;
/** The inputs of one Kubernetes object by type token and `metadata.name`. */
const object = (type: string, name: string) => kubernetesObject(resources, type, name);
const names = (type: string) =>
  ofType(resources, type)
    .map((r) => `${r.inputs.metadata.namespace ?? "-"}/${r.inputs.metadata.name}`)
    .sort();
const podOf = (name: string) => object(T.deployment, name).spec.template.spec;

beforeAll(async () => {
  // GIVEN the committed prod stack config / WHEN the real program runs under mocks
  ({ program, resources } = await runProgram("prod", stackConfigMap("prod")));
  await settled();
});

describe("prod stack on EKS (mocked)", () => {
  test("builds a VPC with load-balancer-tagged public and private subnets in every zone", () => {
    const [vpc] = ofType(resources, "awsx:ec2:Vpc");
    expect(vpc?.inputs).toStrictEqual({
      cidrBlock: "10.0.0.0/16",
      numberOfAvailabilityZones: 3,
      natGateways: { strategy: "OnePerAz" },
      enableDnsHostnames: true,
      enableDnsSupport: true,
      subnetSpecs: [
        { type: "Public", tags: { "kubernetes.io/role/elb": "1" } },
        { type: "Private", tags: { "kubernetes.io/role/internal-elb": "1" } },
      ],
    });
    // AND every AWS resource goes through the one provider built from eks.region
    expect(ofType(resources, "pulumi:providers:aws").map((p) => p.inputs.region)).toStrictEqual([
      "eu-west-1",
    ]);
  });

  test("creates the cluster with OIDC, network-policy enforcement and a managed node group sized from config", () => {
    const [cluster] = ofType(resources, "eks:index:Cluster");
    expect(cluster?.inputs).toStrictEqual({
      version: "1.33",
      vpcId: "vpc-mcp-platform-network-vpc",
      publicSubnetIds: ["subnet-public-0", "subnet-public-1", "subnet-public-2"],
      privateSubnetIds: ["subnet-private-0", "subnet-private-1", "subnet-private-2"],
      nodeAssociatePublicIpAddress: false,
      skipDefaultNodeGroup: true,
      authenticationMode: "API",
      createOidcProvider: true,
      useDefaultVpcCni: false,
      vpcCniOptions: {
        enableNetworkPolicy: true,
        resolveConflictsOnCreate: "OVERWRITE",
        resolveConflictsOnUpdate: "OVERWRITE",
      },
      enabledClusterLogTypes: ["api", "audit", "authenticator"],
    });
    // One node group per zone, each in its zone's private subnet, with its share of the sizes
    const groups = ofType(resources, "eks:index:ManagedNodeGroup");
    expect(groups.map((g) => g.name)).toStrictEqual([
      "mcp-platform-cluster-nodes-0",
      "mcp-platform-cluster-nodes-1",
      "mcp-platform-cluster-nodes-2",
    ]);
    groups.forEach((group, zone) => {
      const { cluster: ref, nodeRole, ...rest } = group.inputs;
      expect([ref.__pulumiType, nodeRole.__pulumiType]).toStrictEqual([
        "eks:index:Cluster",
        "aws:iam/role:Role",
      ]);
      expect(rest).toStrictEqual({
        instanceTypes: ["m6i.large"],
        amiType: "AL2023_x86_64_STANDARD",
        subnetIds: [`subnet-private-${zone}`],
        // the stack's 3 ≤ 3 ≤ 9 nodes, a third per zone
        scalingConfig: { minSize: 1, desiredSize: 1, maxSize: 3 },
        // Cluster Autoscaler sets the node count after creation; `pulumi up` does not reset it
        ignoreScalingChanges: true,
      });
    });
  });

  test("installs the EBS and EFS CSI drivers with IRSA roles, and a default gp3 class for Consul", () => {
    const addons = ofType(resources, "eks:index:Addon").map((a) => [
      a.inputs.addonName,
      a.inputs.serviceAccountRoleArn,
    ]);
    expect(addons).toStrictEqual([
      ["aws-ebs-csi-driver", `arn:aws:iam::${MOCK_AWS.account}:role/mcp-platform-storage-ebs-csi-role`],
      ["aws-efs-csi-driver", `arn:aws:iam::${MOCK_AWS.account}:role/mcp-platform-storage-efs-csi-role`],
    ]);
    // AND each role trusts the accounts its add-on gives it to: EFS's node daemonset mounts with it
    const trusted = (role: string) => {
      const recorded = ofType(resources, "aws:iam/role:Role").find((r) => r.name === role);
      const policy = JSON.parse(String(recorded?.inputs.assumeRolePolicy)) as {
        Statement: { Condition: { StringEquals: Record<string, unknown> } }[];
      };
      const condition = policy.Statement[0]!.Condition.StringEquals;
      return Object.entries(condition).find(([key]) => key.endsWith(":sub"))?.[1];
    };
    expect(trusted("mcp-platform-storage-ebs-csi-role")).toBe(
      "system:serviceaccount:kube-system:ebs-csi-controller-sa",
    );
    expect(trusted("mcp-platform-storage-efs-csi-role")).toStrictEqual([
      "system:serviceaccount:kube-system:efs-csi-controller-sa",
      "system:serviceaccount:kube-system:efs-csi-node-sa",
    ]);
    const gp3 = object("kubernetes:storage.k8s.io/v1:StorageClass", "gp3");
    expect([gp3.provisioner, gp3.metadata.annotations, gp3.volumeBindingMode]).toStrictEqual([
      "ebs.csi.aws.com",
      { "storageclass.kubernetes.io/is-default-class": "true" },
      "WaitForFirstConsumer",
    ]);
    expect(ofType(resources, "aws:efs/mountTarget:MountTarget").map((m) => m.inputs.subnetId)).toStrictEqual([
      "subnet-private-0",
      "subnet-private-1",
      "subnet-private-2",
    ]);
    // AND the shared file system is backed up (on by default)
    const [efs] = ofType(resources, "aws:efs/fileSystem:FileSystem");
    expect(
      ofType(resources, "aws:efs/backupPolicy:BackupPolicy").map((b) => [
        b.inputs.fileSystemId,
        b.inputs.backupPolicy,
      ]),
    ).toStrictEqual([[`${efs?.name}-id`, { status: "ENABLED" }]]);
  });

  test("pins every Helm chart to the version in config", () => {
    const releases = ofType(resources, T.release).map((r) => [
      r.inputs.name,
      r.inputs.namespace,
      r.inputs.chart,
      r.inputs.repositoryOpts.repo,
      r.inputs.version,
    ]);
    expect(releases).toStrictEqual([
      [
        "metrics-server",
        "kube-system",
        "metrics-server",
        "https://kubernetes-sigs.github.io/metrics-server/",
        "3.12.2",
      ],
      [
        "aws-load-balancer-controller",
        "kube-system",
        "aws-load-balancer-controller",
        "https://aws.github.io/eks-charts",
        "1.13.4",
      ],
      [
        "cluster-autoscaler",
        "kube-system",
        "cluster-autoscaler",
        "https://kubernetes.github.io/autoscaler",
        "9.50.1",
      ],
      ["consul", "mcp-platform", "consul", "https://helm.releases.hashicorp.com", "1.7.2"],
    ]);
    expect(releases.map((r) => r[4])).toStrictEqual([
      eks.charts.metricsServer,
      eks.charts.awsLoadBalancerController,
      eks.charts.clusterAutoscaler,
      eks.charts.consul,
    ]);
  });

  test("runs Cluster Autoscaler on the node group's tags, with its own IRSA role limited to this cluster's groups", () => {
    const values = ofType(resources, T.release).find((r) => r.inputs.name === "cluster-autoscaler")?.inputs
      .values;
    const role = ofType(resources, "aws:iam/role:Role").find(
      (r) => r.name === "mcp-platform-addons-cluster-autoscaler-role",
    );
    const policy = ofType(resources, "aws:iam/policy:Policy").find(
      (r) => r.name === "mcp-platform-addons-cluster-autoscaler-policy",
    );
    // GIVEN the cluster's name as the mocks report it
    const clusterName = values?.autoDiscovery.clusterName as string;
    expect(clusterName).toMatch(/^mcp-platform-cluster-eks/);
    // THEN the release finds the groups by that name, runs the configured image, and may remove
    // nodes whose pods have only emptyDir scratch space (every pod here has a /tmp)
    expect(values).toMatchObject({
      cloudProvider: "aws",
      awsRegion: MOCK_AWS.region,
      image: { repository: "registry.k8s.io/autoscaling/cluster-autoscaler", tag: "v1.33.6" },
      rbac: { serviceAccount: { create: true, name: "cluster-autoscaler" } },
      extraArgs: { "skip-nodes-with-local-storage": false },
    });
    expect(values?.rbac.serviceAccount.annotations["eks.amazonaws.com/role-arn"]).toBe(
      `arn:aws:iam::${MOCK_AWS.account}:role/mcp-platform-addons-cluster-autoscaler-role`,
    );
    // AND its role trusts only its service account, and may resize only this cluster's groups
    expect(
      JSON.parse(String(role?.inputs.assumeRolePolicy)).Statement[0].Condition.StringEquals,
    ).toMatchObject({
      [`${MOCK_AWS.oidcIssuer}:sub`]: "system:serviceaccount:kube-system:cluster-autoscaler",
    });
    const statements = JSON.parse(String(policy?.inputs.policy)).Statement as {
      Action: string[];
      Condition?: unknown;
    }[];
    expect(
      statements.find((st) => st.Action.includes("autoscaling:SetDesiredCapacity"))?.Condition,
    ).toStrictEqual({
      StringEquals: { [`aws:ResourceTag/k8s.io/cluster-autoscaler/${clusterName}`]: "owned" },
    });
  });

  test("runs Consul from config: the pinned image, a 3-server quorum on gp3, no clients or mesh", () => {
    const consul = ofType(resources, T.release).find((r) => r.inputs.name === "consul")?.inputs.values;
    expect([consul.global.image, consul.server, consul.client, consul.connectInject]).toStrictEqual([
      "hashicorp/consul:1.20.5",
      {
        replicas: 3,
        bootstrapExpect: 3,
        storage: "10Gi",
        storageClass: "gp3",
        resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
      },
      { enabled: false },
      { enabled: false },
    ]);
    expect(object(T.service, "consul").spec).toStrictEqual({
      type: "ClusterIP",
      selector: { app: "consul", component: "server" },
      // Each pod keeps to one server agent: the one that holds its registration.
      sessionAffinity: "ClientIP",
      ports: [
        { name: "http", port: 8500, targetPort: 8500, protocol: "TCP" },
        { name: "dns-tcp", port: 8600, targetPort: 8600, protocol: "TCP" },
        { name: "dns-udp", port: 8600, targetPort: 8600, protocol: "UDP" },
      ],
    });
  });

  test("creates both namespaces and puts every workload in its own", () => {
    expect(names(T.namespace)).toStrictEqual(["-/mcp-internal", "-/mcp-platform"]);
    expect(names(T.deployment)).toStrictEqual(
      [...INTERNAL.map((n) => `mcp-internal/${n}`), ...PLATFORM.map((n) => `mcp-platform/${n}`)].sort(),
    );
    expect(object(T.namespace, "mcp-internal").metadata.labels["pod-security.kubernetes.io/enforce"]).toBe(
      "restricted",
    );
  });

  test("builds and pushes the three images to ECR, and workloads reference the pushed digests", () => {
    const repos = ofType(resources, "aws:ecr/repository:Repository").map((r) => r.inputs.name);
    expect(repos).toStrictEqual([
      "mcp-platform/prod/router",
      "mcp-platform/prod/mcp-server",
      "mcp-platform/prod/network-monitor",
    ]);
    const images = ofType(resources, "docker:index/image:Image");
    expect(images.map((i) => [i.inputs.imageName, i.inputs.skipPush, i.inputs.build.platform])).toStrictEqual(
      repos.map((r) => [`${REGISTRY}/${r}:prod`, false, "linux/amd64"]),
    );
    expect(
      images.every((i) => (secretValue(i.inputs.registry) as { username: string }).username === "AWS"),
    ).toBe(true);
    const digest = (service: string) =>
      `${REGISTRY}/mcp-platform/prod/${service}@${mockDigest(`mcp-platform-registry-${service}-image`)}`;
    expect(
      Object.fromEntries([...INTERNAL, ...PLATFORM].map((n) => [n, podOf(n).containers[0].image])),
    ).toStrictEqual({
      router: digest("router"),
      "mcp-files": digest("mcp-server"),
      "mcp-memory": digest("mcp-server"),
      "mcp-everything": digest("mcp-server"),
      "mcp-echo": digest("mcp-server"),
      "network-monitor": digest("network-monitor"),
      haproxy: "haproxy:3.0.11-alpine",
    });
    const built = [...INTERNAL, "network-monitor"].map((n) => podOf(n).containers[0].image);
    expect(built.every((i: string) => /@sha256:[0-9a-f]{64}$/.test(i))).toBe(true);
  });

  test("gives the router and each MCP service an autoscaling/v2 HPA on CPU and memory from config", () => {
    const hpas = ofType(resources, T.hpa);
    expect(hpas.map((h) => h.inputs.metadata.name)).toStrictEqual(SCALED);
    for (const h of hpas) {
      expect([h.inputs.apiVersion, h.inputs.metadata.namespace]).toStrictEqual([
        "autoscaling/v2",
        "mcp-internal",
      ]);
      expect([
        h.inputs.spec.scaleTargetRef,
        h.inputs.spec.minReplicas,
        h.inputs.spec.maxReplicas,
      ]).toStrictEqual([{ apiVersion: "apps/v1", kind: "Deployment", name: h.inputs.metadata.name }, 3, 10]);
      expect(h.inputs.spec.metrics).toStrictEqual([
        {
          type: "Resource",
          resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } },
        },
        {
          type: "Resource",
          resource: { name: "memory", target: { type: "Utilization", averageUtilization: 80 } },
        },
      ]);
    }
  });

  test("no HPA-managed Deployment sets replicas; the fixed-size ones do", () => {
    const replicas = Object.fromEntries(
      [...INTERNAL, ...PLATFORM].map((n) => [n, object(T.deployment, n).spec.replicas]),
    );
    expect(replicas).toStrictEqual({
      ...Object.fromEntries(SCALED.map((n) => [n, undefined])),
      "mcp-memory": 1,
      "network-monitor": 1,
      haproxy: 2,
    });
    expect(SCALED.every((n) => !("replicas" in object(T.deployment, n).spec))).toBe(true);
  });

  test("the singleton memory service runs one pod that an update stops before starting the next", () => {
    const strategies = Object.fromEntries(
      [...INTERNAL, ...PLATFORM].map((n) => [n, object(T.deployment, n).spec.strategy]),
    );
    const rolling = { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } };
    expect(strategies).toStrictEqual({
      ...Object.fromEntries([...INTERNAL, ...PLATFORM].map((n) => [n, rolling])),
      "mcp-memory": { type: "Recreate" },
    });
    // AND one process in it, and a PDB that still lets a node drain move it
    const memoryEnv = podOf("mcp-memory").containers[0].env as { name: string; value?: string }[];
    expect(memoryEnv.find((e) => e.name === "MCP_BRIDGE_PROCESSES")?.value).toBe("1");
    expect(object(T.pdb, "mcp-memory").spec.maxUnavailable).toBe(1);
  });

  test("every container has probes on its health routes, requests and limits, and a hardened security context", () => {
    const sized = {
      router: eks.resources.router,
      "network-monitor": eks.resources.networkMonitor,
      haproxy: eks.resources.haproxy,
      ...Object.fromEntries(
        INTERNAL.filter((n) => n.startsWith("mcp-")).map((n) => [n, eks.resources.mcpService]),
      ),
    };
    for (const name of [...INTERNAL, ...PLATFORM]) {
      const pod = podOf(name);
      expect(pod.containers.length).toBe(1);
      const c = pod.containers[0];
      const port = name === "haproxy" ? 11099 : name === "network-monitor" ? 11091 : c.ports[0].containerPort;
      const live = name === "haproxy" ? "/healthz" : "/health/live";
      const ready = name === "haproxy" ? "/healthz" : "/health/ready";
      expect([name, c.livenessProbe.httpGet, c.readinessProbe.httpGet, c.startupProbe.httpGet]).toStrictEqual(
        [
          name,
          { path: live, port, scheme: "HTTP" },
          { path: ready, port, scheme: "HTTP" },
          { path: live, port, scheme: "HTTP" },
        ],
      );
      expect([name, c.resources]).toStrictEqual([name, sized[name as keyof typeof sized]]);
      expect([name, c.securityContext]).toStrictEqual([name, HARDENED]);
      expect([name, pod.securityContext.runAsNonRoot, pod.automountServiceAccountToken]).toStrictEqual([
        name,
        true,
        false,
      ]);
      expect(pod.topologySpreadConstraints[0]).toStrictEqual({
        maxSkew: 1,
        topologyKey: "topology.kubernetes.io/zone",
        whenUnsatisfiable: "ScheduleAnyway",
        labelSelector: { matchLabels: { "app.kubernetes.io/name": name } },
      });
    }
    expect([
      podOf("haproxy").securityContext.runAsUser,
      podOf("router").securityContext.runAsUser,
    ]).toStrictEqual([99, 1000]);
  });

  test("has exactly one LoadBalancer Service: an internet-facing NLB with IP targets in front of HAProxy", () => {
    const lbs = ofType(resources, T.service).filter((s) => s.inputs.spec.type !== "ClusterIP");
    expect(
      lbs.map((s) => [s.inputs.metadata.namespace, s.inputs.metadata.name, s.inputs.spec.type]),
    ).toStrictEqual([["mcp-platform", "haproxy-public", "LoadBalancer"]]);
    expect(lbs[0]?.inputs.metadata.annotations).toStrictEqual({
      "service.beta.kubernetes.io/aws-load-balancer-type": "external",
      "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
      "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
      "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "http",
      "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port": "11099",
      "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": "/healthz",
      "service.beta.kubernetes.io/aws-load-balancer-attributes": "load_balancing.cross_zone.enabled=true",
      "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes":
        "preserve_client_ip.enabled=true",
    });
    expect(lbs[0]?.inputs.spec.ports).toStrictEqual([
      { name: "http", port: 3000, targetPort: "http", protocol: "TCP" },
    ]);
    // AND the router and MCP services are headless, so HAProxy's DNS lookups return pod IPs
    const headless = ofType(resources, T.service)
      .filter((s) => s.inputs.spec.clusterIP === "None")
      .map((s) => s.inputs.metadata.name);
    expect(headless).toStrictEqual(INTERNAL);
  });

  test("guards mcp-internal with default deny and exactly the allowed paths", () => {
    expect(names(T.policy)).toStrictEqual(
      [
        "default-deny-all",
        "allow-dns-and-consul-egress",
        "allow-router-ingress",
        "allow-router-egress",
        ...INTERNAL.filter((n) => n !== "router").map((n) => `allow-${n}-ingress`),
      ]
        .map((n) => `mcp-internal/${n}`)
        .sort(),
    );
    expect(object(T.policy, "default-deny-all").spec).toStrictEqual({
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
    });
    const platformPod = (name: string) => ({
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "mcp-platform" } },
      podSelector: { matchLabels: { "app.kubernetes.io/name": name } },
    });
    const consul = {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "mcp-platform" } },
      podSelector: { matchLabels: { app: "consul", component: "server" } },
    };
    expect(object(T.policy, "allow-mcp-files-ingress").spec).toStrictEqual({
      podSelector: { matchLabels: { "app.kubernetes.io/name": "mcp-files" } },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            platformPod("haproxy"),
            { podSelector: { matchLabels: { "app.kubernetes.io/name": "router" } } },
          ],
          ports: [{ protocol: "TCP", port: 11101 }],
        },
        { from: [platformPod("network-monitor"), consul], ports: [{ protocol: "TCP", port: 11101 }] },
      ],
    });
    expect(object(T.policy, "allow-router-egress").spec.egress).toStrictEqual([
      {
        to: [
          {
            podSelector: {
              matchLabels: {
                "app.kubernetes.io/part-of": "mcp-platform",
                "app.kubernetes.io/component": "mcp-service",
              },
            },
          },
        ],
        ports: [11101, 11105, 11106, 11107].map((port) => ({ protocol: "TCP", port })),
      },
      {
        to: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "router" } } }],
        ports: [{ protocol: "TCP", port: 3000 }],
      },
    ]);
  });

  test("gives every workload a PodDisruptionBudget", () => {
    expect(names(T.pdb)).toStrictEqual(names(T.deployment));
    expect(object(T.pdb, "router").spec).toStrictEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { "app.kubernetes.io/name": "router" } },
    });
  });

  test("mounts the renderer's Kubernetes-DNS HAProxy config, which passes real haproxy -c", () => {
    // With a 256Mi limit, HAProxy takes no more connections than fit in it at their worst; with
    // a one-core limit it runs one thread, not one per core of the node.
    const expected = renderHaproxyConfig(
      buildTopology(prod),
      { kind: "kubernetes-dns" },
      { maxConnections: 5_957, threads: 1 },
    );
    expect(expected).toContain("\n    maxconn 5957\n    nbthread 1\n");
    expect(object("kubernetes:core/v1:ConfigMap", "haproxy-config").data).toStrictEqual({
      "haproxy.cfg": expected,
    });
    expect(podOf("haproxy").volumes[1]).toStrictEqual({
      name: "config",
      configMap: { name: "haproxy-config" },
    });
    expect(object(T.deployment, "haproxy").spec.template.metadata.annotations).toStrictEqual({
      "prometheus.io/scrape": "true",
      "prometheus.io/port": "11099",
      "prometheus.io/path": "/metrics",
      "mcp-platform/haproxy-config-sha256": configHash(expected),
    });
    // AND a stopping HAProxy pod keeps accepting while the NLB deregisters it
    expect([
      podOf("haproxy").containers[0].lifecycle,
      podOf("haproxy").terminationGracePeriodSeconds,
    ]).toStrictEqual([
      { preStop: { exec: { command: ["sleep", String(HAPROXY_STOP_DELAY_SECONDS)] } } },
      30 + HAPROXY_STOP_DELAY_SECONDS,
    ]);
    expect(podOf("router").containers[0].lifecycle).toBeUndefined();
    const check = haproxyCheck(expected);
    expect([check.status, check.output.includes("WARNING")]).toStrictEqual([0, false]);
  });

  test("points every service at the in-cluster Consul, and the router's key comes from a Secret", () => {
    const env = (name: string) =>
      Object.fromEntries(podOf(name).containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env("router")).toStrictEqual({
      HOST: "0.0.0.0",
      PORT: "3000",
      SERVICE_NAME: "router",
      CONSUL_HTTP_ADDR: "http://consul.mcp-platform.svc.cluster.local:8500",
      LOG_LEVEL: "info",
      MCP_ALLOWED_HOSTS: MOCK_AWS.nlbHostname,
      ROUTER_MAX_STREAMS: "5120",
      SERVICE_ADDRESS: { fieldRef: { fieldPath: "status.podIP" } },
      ROUTER_SESSION_KEY: { secretKeyRef: { name: "router-env", key: "ROUTER_SESSION_KEY" } },
    });
    // AND the services accept the load balancer's name as Host; the monitor is never addressed by it
    expect(env("mcp-files").MCP_ALLOWED_HOSTS).toBe(MOCK_AWS.nlbHostname);
    expect(env("network-monitor").MCP_ALLOWED_HOSTS).toBeUndefined();
    expect(secretValue(object("kubernetes:core/v1:Secret", "router-env").stringData)).toStrictEqual({
      ROUTER_SESSION_KEY: "generated-router-routerSessionKey",
    });
    expect(JSON.parse(env("network-monitor").MONITOR_TARGETS)).toStrictEqual([
      { name: "consul", url: "http://consul.mcp-platform.svc.cluster.local:8500/v1/status/leader" },
      { name: "haproxy", url: "http://haproxy.mcp-platform.svc.cluster.local:11099/healthz" },
    ]);
    // AND the services with a volume share one ReadWriteMany claim on EFS across replicas
    expect(object("kubernetes:core/v1:PersistentVolumeClaim", "mcp-files-data").spec).toStrictEqual({
      accessModes: ["ReadWriteMany"],
      storageClassName: "efs",
      resources: { requests: { storage: "1Gi" } },
    });
  });

  test("replaces fixed-name Kubernetes objects by deleting first", () => {
    const fixed = resources.filter(
      (r) =>
        r.type.startsWith("kubernetes:") &&
        r.type !== T.release &&
        typeof r.inputs.metadata?.name === "string",
    );
    expect(fixed.length).toBeGreaterThan(30);
    expect(fixed.filter((r) => !r.deleteBeforeReplace).map((r) => r.name)).toStrictEqual([]);
  });

  test("exports the gateway URL from the NLB, client settings, the kubeconfig as a secret and port-forwards", async () => {
    const url = `http://${MOCK_AWS.nlbHostname}:3000/mcp`;
    expect(await valueOf(program.gatewayUrl as string)).toBe(url);
    expect(JSON.parse(await valueOf(program.cursorConfig as string))).toStrictEqual({
      mcpServers: { "mcp-platform": { url } },
    });
    expect(await valueOf(program.claudeCodeCommand as string)).toBe(
      `claude mcp add --transport http mcp-platform ${url}`,
    );
    expect(await pulumi.isSecret(program.kubeconfig as pulumi.Output<string>)).toBe(true);
    expect(JSON.parse(await valueOf(program.kubeconfig as string)).kind).toBe("Config");
    expect(program.portForward).toStrictEqual({
      dashboard: "kubectl --namespace mcp-platform port-forward svc/network-monitor 11091:11091",
      consul: "kubectl --namespace mcp-platform port-forward svc/consul 11090:8500",
      haproxyStats: "kubectl --namespace mcp-platform port-forward svc/haproxy 11099:11099",
    });
    expect(await valueOf(program.serviceUrls as Record<string, string>)).toStrictEqual({});
    expect(program.containers).toBeUndefined();
  });
});
