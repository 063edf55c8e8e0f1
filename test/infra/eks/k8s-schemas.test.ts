import type { KubernetesObject } from "../../helpers/k8s-schema";
import { kubernetesObjects, NOT_API_OBJECTS, validateKubernetesObjects } from "../../helpers/k8s-schema";
import type { Recorded } from "../../helpers/pulumi-mocks";
import { runProgram, settled } from "../../helpers/pulumi-mocks";
import { stackConfigMap } from "../../helpers/stack-files";

let resources: Recorded[];

beforeAll(async () => {
  // GIVEN the committed prod stack config / WHEN the real program runs under mocks
  ({ resources } = await runProgram("prod", stackConfigMap("prod")));
  await settled();
});

describe("prod stack's Kubernetes objects against the Kubernetes API schemas (kubernetes-models)", () => {
  test("every object the program declares validates", () => {
    // GIVEN every recorded kubernetes:* resource that is an API object
    const objects = kubernetesObjects(resources);
    const declared = resources.filter(
      (r) => r.type.startsWith("kubernetes:") && !NOT_API_OBJECTS.includes(r.type),
    );
    // WHEN validated
    const results = validateKubernetesObjects(objects);
    // THEN none has an error, and no object was skipped
    expect(results.filter((r) => r.errors !== null)).toStrictEqual([]);
    expect(results.length).toBe(declared.length);
    const kinds = [...new Set(objects.map((o) => `${o.apiVersion}/${o.kind}`))].sort();
    expect(kinds).toStrictEqual([
      "apps/v1/Deployment",
      "autoscaling/v2/HorizontalPodAutoscaler",
      "networking.k8s.io/v1/NetworkPolicy",
      "policy/v1/PodDisruptionBudget",
      "storage.k8s.io/v1/StorageClass",
      "v1/ConfigMap",
      "v1/Namespace",
      "v1/PersistentVolumeClaim",
      "v1/Secret",
      "v1/Service",
    ]);
  });

  test("a broken object fails validation, so the check can fail", () => {
    // GIVEN the router's Deployment with a port number given as text and its selector removed
    const router = kubernetesObjects(resources).find(
      (o) => o.kind === "Deployment" && o.metadata.name === "router",
    );
    const spec = structuredClone(router?.spec) as Record<string, any>;
    spec.template.spec.containers[0].ports[0].containerPort = "3000";
    delete spec.selector;
    const broken: KubernetesObject = { ...router!, spec };
    // WHEN validated / THEN both defects are reported
    expect(validateKubernetesObjects([broken])).toStrictEqual([
      {
        ref: "Deployment/mcp-internal/router",
        errors: [
          "/spec must have required property selector",
          "/spec/template/spec/containers/0/ports/0/containerPort must be integer",
        ],
      },
    ]);
  });

  test("an object of an unknown kind is reported, not skipped", () => {
    const unknown: KubernetesObject = {
      apiVersion: "example.com/v1",
      kind: "Widget",
      metadata: { name: "w" },
    };
    expect(validateKubernetesObjects([unknown])).toStrictEqual([
      { ref: "Widget/-/w", errors: ["no schema for example.com/v1 Widget"] },
    ]);
  });
});
