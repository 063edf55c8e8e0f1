import type { Recorded } from "../../helpers/pulumi-mocks";
import {
  kubernetesObject,
  MOCK_AWS,
  mockDigest,
  ofType,
  runProgram,
  settled,
  valueOf,
} from "../../helpers/pulumi-mocks";
import type * as Configs from "../../helpers/configs";
import { ADDED_PACKAGE as PACKAGE, withAddedService } from "../../helpers/configs";
import { stackConfigMap } from "../../helpers/stack-files";

// One program run per file: this is the prod half; added-service-dev.test.ts is the dev half.
// The user locks the added service's package (`npm run stdio:lock`) before `pulumi up`; without
// that the program refuses, which test/infra/stdio-lock.test.ts shows.
jest.mock("../../../infra/stdio-lock", () =>
  jest.requireActual<typeof Configs>("../../helpers/configs").stdioLockWithAddedService(),
);

let resources: Recorded[];
let program: Record<string, unknown>;
const object = (kind: string, name: string) => kubernetesObject(resources, `kubernetes:${kind}`, name);

beforeAll(async () => {
  // GIVEN the prod config with the same service added / WHEN the program runs
  ({ program, resources } = await runProgram("prod", withAddedService(stackConfigMap("prod"))));
  await settled();
});

describe("a service added to config appears in the prod stack (mocked)", () => {
  test("it gets a Deployment on the mcp-server digest, a headless Service, an HPA and a PDB", async () => {
    expect(await valueOf(program.deployments as string[])).toContain("mcp-internal/mcp-search");
    const deployment = object("apps/v1:Deployment", "mcp-search");
    const c = deployment.spec.template.spec.containers[0];
    expect([deployment.metadata.namespace, deployment.spec.replicas, c.image, c.ports]).toStrictEqual([
      "mcp-internal",
      undefined,
      `${MOCK_AWS.account}.dkr.ecr.${MOCK_AWS.region}.amazonaws.com/mcp-platform/prod/mcp-server@${mockDigest("mcp-platform-registry-mcp-server-image")}`,
      [{ name: "http", containerPort: 11103, protocol: "TCP" }],
    ]);
    expect(object("core/v1:Service", "mcp-search").spec).toStrictEqual({
      type: "ClusterIP",
      clusterIP: "None",
      selector: { "app.kubernetes.io/name": "mcp-search" },
      ports: [{ name: "http", port: 11103, targetPort: "http", protocol: "TCP" }],
    });
    const hpa = object("autoscaling/v2:HorizontalPodAutoscaler", "mcp-search").spec;
    expect([hpa.minReplicas, hpa.maxReplicas]).toStrictEqual([3, 10]);
    expect(object("policy/v1:PodDisruptionBudget", "mcp-search").spec.maxUnavailable).toBe(1);
  });

  test("the NetworkPolicies admit HAProxy and the router to its port", () => {
    const ingress = object("networking.k8s.io/v1:NetworkPolicy", "allow-mcp-search-ingress").spec.ingress;
    expect(ingress.map((r: { ports: unknown }) => r.ports)).toStrictEqual([
      [{ protocol: "TCP", port: 11103 }],
      [{ protocol: "TCP", port: 11103 }],
    ]);
    const egress = object("networking.k8s.io/v1:NetworkPolicy", "allow-router-egress").spec.egress[0].ports;
    expect(egress).toContainEqual({ protocol: "TCP", port: 11103 });
  });

  test("HAProxy listens on its direct port and resolves its pods, and the image bakes in its package", () => {
    const cfg = object("core/v1:ConfigMap", "haproxy-config").data["haproxy.cfg"];
    expect(cfg).toContain("frontend mcp-search\n    bind *:11103");
    expect(cfg).toContain(
      "server-template mcp-search- 10 mcp-search.mcp-internal.svc.cluster.local:11103 resolvers kube",
    );
    const haproxy = object("apps/v1:Deployment", "haproxy").spec.template.spec.containers[0];
    expect(haproxy.ports).toContainEqual({ name: "direct-11103", containerPort: 11103, protocol: "TCP" });
    const image = ofType(resources, "docker:index/image:Image").find((i) =>
      i.name.endsWith("-mcp-server-image"),
    );
    expect(image?.inputs.build.args.MCP_STDIO_PACKAGES.split(" ")).toContain(PACKAGE);
  });
});
