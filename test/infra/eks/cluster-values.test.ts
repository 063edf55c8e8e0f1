import { loadBalancerControllerValues, metricsServerValues } from "../../../infra/eks/addons";
import fc from "fast-check";
import { nodeArchitecture, zoneScaling } from "../../../infra/eks/cluster";
import { consulValues } from "../../../infra/eks/consul";
import { loadBalancerControllerPolicy } from "../../../infra/eks/lbc-policy";
import {
  loadBalancerAnnotations,
  loadBalancerServiceSpec,
  publicEndpoint,
  publicHostNames,
  publicPorts,
  TLS_POLICY,
} from "../../../infra/eks/front-door";
import { irsaTrustPolicy } from "../../../infra/eks/irsa";
import { namespaceLabels } from "../../../infra/eks/namespaces";
import { subnetSpecs } from "../../../infra/eks/network";
import { lifecyclePolicy, repositoryName } from "../../../infra/eks/registry";
import { blockStorageClass, sharedStorageClass } from "../../../infra/eks/storage";
import { buildTopology, component } from "../../../infra/topology";
import { stackConfig } from "../../helpers/stack-files";

const prod = buildTopology(stackConfig("prod"));

describe("cluster decisions (pure)", () => {
  test.each([
    ["m6i.large", "amd64", "AL2023_x86_64_STANDARD", "linux/amd64"],
    ["m7g.xlarge", "arm64", "AL2023_ARM_64_STANDARD", "linux/arm64"],
    ["c6gn.large", "arm64", "AL2023_ARM_64_STANDARD", "linux/arm64"],
    ["t4g.medium", "arm64", "AL2023_ARM_64_STANDARD", "linux/arm64"],
    ["g5.xlarge", "amd64", "AL2023_x86_64_STANDARD", "linux/amd64"],
  ])("instance type %s runs %s nodes and images", (instanceType, arch, amiType, platform) => {
    expect(nodeArchitecture(instanceType)).toStrictEqual({ arch, amiType, platform });
  });

  test.each([
    // default sizes over three zones: one node each to start, three each at most
    [
      { minSize: 3, desiredSize: 3, maxSize: 9 },
      3,
      [
        [1, 1, 3],
        [1, 1, 3],
        [1, 1, 3],
      ],
    ],
    // a remainder goes to the first zones; a zone may start (and shrink) to zero
    [
      { minSize: 2, desiredSize: 4, maxSize: 10 },
      3,
      [
        [1, 2, 4],
        [1, 1, 3],
        [0, 1, 3],
      ],
    ],
    [
      { minSize: 1, desiredSize: 1, maxSize: 2 },
      2,
      [
        [1, 1, 1],
        [0, 0, 1],
      ],
    ],
  ])("node group sizes %o are spread over %i zones", (sizes, zones, expected) => {
    expect(zoneScaling(sizes, zones)).toStrictEqual(
      expected.map(([minSize, desiredSize, maxSize]) => ({ minSize, desiredSize, maxSize })),
    );
  });

  test("every zone's group is well ordered, can hold a node, and the zones add up to the totals", () => {
    // GIVEN any sizes the config accepts (min ≤ desired ≤ max, max ≥ zones)
    const accepted = fc.integer({ min: 2, max: 6 }).chain((zones) =>
      fc
        .tuple(
          fc.integer({ min: 1, max: 60 }),
          fc.integer({ min: 0, max: 60 }),
          fc.integer({ min: 0, max: 60 }),
        )
        .map(([min, up, more]) => ({
          zones,
          sizes: { minSize: min, desiredSize: min + up, maxSize: Math.max(zones, min + up + more) },
        })),
    );
    fc.assert(
      fc.property(accepted, ({ zones, sizes }) => {
        // WHEN spread over the zones
        const groups = zoneScaling(sizes, zones);
        // THEN each group is valid for EKS and the sums are the configured totals
        const sum = (key: "minSize" | "desiredSize" | "maxSize") => groups.reduce((n, g) => n + g[key], 0);
        expect(groups).toHaveLength(zones);
        for (const g of groups) {
          expect(g.minSize).toBeGreaterThanOrEqual(0);
          expect(g.minSize).toBeLessThanOrEqual(g.desiredSize);
          expect(g.desiredSize).toBeLessThanOrEqual(g.maxSize);
          expect(g.maxSize).toBeGreaterThanOrEqual(1);
        }
        expect([sum("minSize"), sum("desiredSize"), sum("maxSize")]).toStrictEqual([
          sizes.minSize,
          sizes.desiredSize,
          sizes.maxSize,
        ]);
      }),
    );
  });

  test("an IRSA role trusts one service account through the cluster's OIDC provider", () => {
    const issuer = "oidc.eks.eu-west-1.amazonaws.com/id/ABC";
    expect(
      JSON.parse(
        irsaTrustPolicy("arn:aws:iam::1:oidc-provider/x", issuer, [{ namespace: "kube-system", name: "sa" }]),
      ),
    ).toStrictEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { Federated: "arn:aws:iam::1:oidc-provider/x" },
          Action: "sts:AssumeRoleWithWebIdentity",
          Condition: {
            StringEquals: {
              [`${issuer}:sub`]: "system:serviceaccount:kube-system:sa",
              [`${issuer}:aud`]: "sts.amazonaws.com",
            },
          },
        },
      ],
    });
  });

  test("an IRSA role may trust several exact service accounts, but not none", () => {
    const issuer = "oidc.eks.eu-west-1.amazonaws.com/id/ABC";
    const accounts = ["a", "b"].map((name) => ({ namespace: "kube-system", name }));
    const policy = JSON.parse(irsaTrustPolicy("arn:p", issuer, accounts)) as {
      Statement: { Condition: { StringEquals: Record<string, unknown> } }[];
    };
    expect(policy.Statement[0]?.Condition.StringEquals[`${issuer}:sub`]).toStrictEqual([
      "system:serviceaccount:kube-system:a",
      "system:serviceaccount:kube-system:b",
    ]);
    expect(() => irsaTrustPolicy("arn:p", issuer, [])).toThrow("at least one service account");
  });

  test("the load balancer controller may only change load balancers and security groups it tagged", () => {
    const policy = JSON.parse(loadBalancerControllerPolicy()) as {
      Statement: {
        Action: string | string[];
        Resource: string | string[];
        Condition?: Record<string, any>;
      }[];
    };
    const actions = (s: { Action: string | string[] }) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
    // Every delete or modify on load balancers, target groups and security groups is scoped by tag.
    const destructive = policy.Statement.filter((s) =>
      actions(s).some((a) =>
        /^(elasticloadbalancing:(Delete(LoadBalancer|TargetGroup)|Modify(LoadBalancer|TargetGroup))|ec2:DeleteSecurityGroup)/.test(
          a,
        ),
      ),
    );
    expect(destructive.map((s) => s.Condition)).toStrictEqual([
      { Null: { "aws:ResourceTag/elbv2.k8s.aws/cluster": "false" } },
      { Null: { "aws:ResourceTag/elbv2.k8s.aws/cluster": "false" } },
    ]);
    expect(policy.Statement.flatMap(actions)).toEqual(
      expect.arrayContaining([
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:RegisterTargets",
        "ec2:DescribeSubnets",
        "ec2:GetSecurityGroupsForVpc",
      ]),
    );
  });

  test("add-on values: two metrics-server replicas, and the controller bound to its role", () => {
    expect(metricsServerValues()).toStrictEqual({
      replicas: 2,
      podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
    });
    expect(
      loadBalancerControllerValues({
        clusterName: "c",
        region: "eu-west-1",
        vpcId: "vpc-1",
        roleArn: "arn:r",
      }),
    ).toStrictEqual({
      clusterName: "c",
      region: "eu-west-1",
      vpcId: "vpc-1",
      replicaCount: 2,
      serviceAccount: {
        create: true,
        name: "aws-load-balancer-controller",
        annotations: { "eks.amazonaws.com/role-arn": "arn:r" },
      },
    });
  });

  test("Consul values come from config", () => {
    const resources = { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "2", memory: "2Gi" } };
    const values = consulValues({
      image: "hashicorp/consul:1.20.5",
      replicas: 5,
      storageGi: 20,
      storageClass: "gp3",
      resources,
    });
    expect(values.server).toStrictEqual({
      replicas: 5,
      bootstrapExpect: 5,
      storage: "20Gi",
      storageClass: "gp3",
      resources,
    });
    expect(values.global).toStrictEqual({
      name: "consul",
      image: "hashicorp/consul:1.20.5",
      datacenter: "dc1",
      logJSON: true,
      gossipEncryption: { autoGenerate: true },
    });
  });

  test("the NLB publishes the gateway, and the direct service ports only when config says so", () => {
    expect(publicPorts(prod, false)).toStrictEqual([3000]);
    expect(loadBalancerServiceSpec(prod, true).ports).toStrictEqual(
      [
        { name: "http", port: 3000 },
        ...[11101, 11105, 11106, 11107].map((port) => ({ name: `direct-${port}`, port })),
      ].map((p) => ({ ...p, targetPort: p.name, protocol: "TCP" })),
    );
  });

  test("the NLB preserves client addresses, and sticks clients to one HAProxy pod only for public direct ports with several pods", () => {
    // GIVEN the prod topology (two HAProxy pods by default) and a one-pod variant
    const cfg = stackConfig("prod");
    const single = buildTopology({ ...cfg, eks: { ...cfg.eks!, haproxy: { replicas: 1 } } });
    const key = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes";
    // WHEN the annotations are derived / THEN only public direct ports on several pods get it:
    // their sessions live in one pod's stick table; the gateway's sessions live in no pod
    expect(component(prod, "haproxy").replicas).toBe(2);
    expect(loadBalancerAnnotations(prod, true)[key]).toBe(
      "preserve_client_ip.enabled=true,stickiness.enabled=true,stickiness.type=source_ip",
    );
    expect(loadBalancerAnnotations(prod, false)[key]).toBe("preserve_client_ip.enabled=true");
    expect(loadBalancerAnnotations(single, true)[key]).toBe("preserve_client_ip.enabled=true");
  });

  test("with TLS every public listener terminates TLS with the certificate, and clients use its host name", () => {
    // GIVEN a certificate for mcp.example.com
    const tls = {
      certificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
      hostname: "mcp.example.com",
    };
    const prefix = "service.beta.kubernetes.io/aws-load-balancer";
    const tlsKeys = (a: Record<string, string>) =>
      Object.fromEntries(Object.entries(a).filter(([k]) => /ssl-/.test(k.slice(prefix.length))));
    // WHEN the annotations are derived, with and without the direct ports
    // THEN the gateway (and each public direct port) gets a TLS listener on its own number
    expect(tlsKeys(loadBalancerAnnotations(prod, false, tls))).toStrictEqual({
      [`${prefix}-ssl-cert`]: tls.certificateArn,
      [`${prefix}-ssl-ports`]: "3000",
      [`${prefix}-ssl-negotiation-policy`]: TLS_POLICY,
    });
    expect(loadBalancerAnnotations(prod, true, tls)[`${prefix}-ssl-ports`]).toBe(
      "3000,11101,11105,11106,11107",
    );
    expect(tlsKeys(loadBalancerAnnotations(prod, true))).toStrictEqual({});
    // AND clients are told the TLS host name, which the services accept beside the NLB's own
    const nlb = "k8s-mcpplatf-haproxyp-0123456789.elb.eu-west-1.amazonaws.com";
    expect([publicEndpoint(nlb, tls), publicEndpoint(nlb, undefined)]).toStrictEqual([
      { host: "mcp.example.com", scheme: "https" },
      { host: nlb, scheme: "http" },
    ]);
    expect([publicHostNames(nlb, tls), publicHostNames(nlb, undefined)]).toStrictEqual([
      `mcp.example.com,${nlb}`,
      nlb,
    ]);
  });

  test("namespaces: restricted Pod Security in mcp-internal, readiness gates in mcp-platform", () => {
    expect(namespaceLabels("mcp-internal")).toStrictEqual({
      "app.kubernetes.io/part-of": "mcp-platform",
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/warn": "restricted",
      "pod-security.kubernetes.io/audit": "restricted",
    });
    expect(namespaceLabels("mcp-platform")).toStrictEqual({
      "app.kubernetes.io/part-of": "mcp-platform",
      "pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/warn": "restricted",
      "pod-security.kubernetes.io/audit": "restricted",
      "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled",
    });
  });

  test("storage, subnets and registry settings", () => {
    expect(sharedStorageClass("fs-1", 1000).parameters).toStrictEqual({
      provisioningMode: "efs-ap",
      fileSystemId: "fs-1",
      directoryPerms: "700",
      uid: "1000",
      gid: "1000",
      basePath: "/mcp-platform",
    });
    expect(blockStorageClass().parameters).toStrictEqual({ type: "gp3", encrypted: "true" });
    expect(subnetSpecs().map((s) => [s.type, s.tags])).toStrictEqual([
      ["Public", { "kubernetes.io/role/elb": "1" }],
      ["Private", { "kubernetes.io/role/internal-elb": "1" }],
    ]);
    expect(repositoryName("mcp-platform/prod", "router")).toBe("mcp-platform/prod/router");
    expect(JSON.parse(lifecyclePolicy(20)).rules[0].selection).toStrictEqual({
      tagStatus: "any",
      countType: "imageCountMoreThan",
      countNumber: 20,
    });
  });
});
