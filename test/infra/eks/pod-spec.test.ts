import { hpaSpec, pdbSpec } from "../../../infra/eks/autoscaling";
import {
  containerPorts,
  envOf,
  labelsOf,
  podSecurityContext,
  podTemplate,
  probes,
  resourcesOf,
  runAsUserOf,
  scrapeAnnotations,
} from "../../../infra/eks/pod-spec";
import { claimSpec, deploymentSpec, isHeadless, serviceSpec } from "../../../infra/eks/workload";
import { buildTopology, component } from "../../../infra/topology";
import { stackConfig } from "../../helpers/stack-files";

const prod = buildTopology(stackConfig("prod"));
const dev = buildTopology(stackConfig("dev"));

describe("pod builders (pure)", () => {
  test("probes hit the live and ready routes, on HAProxy's stats port for HAProxy", () => {
    // GIVEN the router and HAProxy / WHEN their probes are built
    const router = probes(component(prod, "router"));
    const haproxy = probes(component(prod, "haproxy"));
    // THEN they name the topology's paths and ports
    expect(router).toStrictEqual({
      startupProbe: {
        httpGet: { path: "/health/live", port: 3000, scheme: "HTTP" },
        periodSeconds: 5,
        timeoutSeconds: 3,
        failureThreshold: 24,
      },
      livenessProbe: {
        httpGet: { path: "/health/live", port: 3000, scheme: "HTTP" },
        periodSeconds: 10,
        timeoutSeconds: 3,
        failureThreshold: 3,
      },
      readinessProbe: {
        httpGet: { path: "/health/ready", port: 3000, scheme: "HTTP" },
        periodSeconds: 5,
        timeoutSeconds: 3,
        failureThreshold: 2,
        successThreshold: 1,
      },
    });
    expect(haproxy.livenessProbe.httpGet).toStrictEqual({ path: "/healthz", port: 11099, scheme: "HTTP" });
  });

  test("requests and limits come from config, and a stack without EKS settings has none", () => {
    expect(resourcesOf(component(prod, "mcp-files"))).toStrictEqual({
      requests: { cpu: "250m", memory: "256Mi" },
      limits: { cpu: "1", memory: "1Gi" },
    });
    expect(() => resourcesOf(component(dev, "router"))).toThrow(
      'component "router" has no requests and limits; they come from mcp-platform:eks',
    );
  });

  test("pods run as the image's numeric non-root user, and an unknown upstream image is refused", () => {
    expect(podSecurityContext(component(prod, "network-monitor"))).toStrictEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(runAsUserOf(component(prod, "haproxy"))).toBe(99);
    expect(() => runAsUserOf(component(prod, "consul"))).toThrow(
      'component "consul" runs hashicorp/consul:1.20.5, whose numeric user is not known',
    );
  });

  test("HAProxy's container listens on the gateway, stats and every direct port, named", () => {
    expect(containerPorts(component(prod, "haproxy"))).toStrictEqual([
      { name: "http", containerPort: 3000, protocol: "TCP" },
      { name: "health", containerPort: 11099, protocol: "TCP" },
      ...[11101, 11105, 11106, 11107].map((p) => ({
        name: `direct-${p}`,
        containerPort: p,
        protocol: "TCP",
      })),
    ]);
  });

  test("env is the topology's, plus the pod IP to advertise and secrets by reference", () => {
    const env = envOf(component(prod, "mcp-echo"), ["API_TOKEN"]);
    expect(env.slice(-2)).toStrictEqual([
      { name: "SERVICE_ADDRESS", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
      { name: "API_TOKEN", valueFrom: { secretKeyRef: { name: "mcp-echo-env", key: "API_TOKEN" } } },
    ]);
    expect(env.find((e) => e.name === "CONSUL_HTTP_ADDR")?.value).toBe(
      "http://consul.mcp-platform.svc.cluster.local:8500",
    );
    expect(envOf(component(prod, "haproxy"))).toStrictEqual([]);
  });

  test("pods announce where they serve metrics: each service on its own port, HAProxy on its stats port", () => {
    // GIVEN every prod component / WHEN its scrape annotations are derived
    const ports = Object.fromEntries(
      prod.components.map((c) => [c.name, scrapeAnnotations(c)["prometheus.io/port"] ?? "none"]),
    );
    // THEN everything but Consul (which runs from its chart) is scraped on its health port
    expect(ports).toStrictEqual({
      consul: "none",
      haproxy: "11099",
      router: "3000",
      "mcp-files": "11101",
      "mcp-memory": "11105",
      "mcp-everything": "11106",
      "mcp-echo": "11107",
      "network-monitor": "11091",
    });
    // AND a template's own annotations come on top of them
    const template = podTemplate(component(prod, "haproxy"), { image: "haproxy:3", annotations: { a: "b" } });
    expect((template.metadata as Record<string, any>).annotations).toStrictEqual({
      ...scrapeAnnotations(component(prod, "haproxy")),
      a: "b",
    });
  });

  test("a stop delay keeps the pod serving for that long before its stop, within a longer grace period", () => {
    // GIVEN HAProxy's pod with a 20 s stop delay (the NLB's deregistration lag)
    const pod = podTemplate(component(prod, "haproxy"), { image: "haproxy:3", stopDelaySeconds: 20 })
      .spec as Record<string, any>;
    // THEN it sleeps before the signal, and the grace period still leaves the 30 s to stop
    expect(pod.containers[0].lifecycle).toStrictEqual({ preStop: { exec: { command: ["sleep", "20"] } } });
    expect(pod.terminationGracePeriodSeconds).toBe(50);
  });

  test("MCP service pods share their process namespace, so the pause process reaps orphaned stdio children", () => {
    // GIVEN each component's pod / THEN only the MCP services (which start stdio servers) share
    const shares = Object.fromEntries(
      prod.components
        .filter((c) => c.image.kind === "build" || c.name === "haproxy")
        .map((c) => [
          c.name,
          (podTemplate(c, { image: "i" }).spec as { shareProcessNamespace?: boolean }).shareProcessNamespace,
        ]),
    );
    expect(shares).toStrictEqual({
      haproxy: undefined,
      router: undefined,
      "mcp-files": true,
      "mcp-memory": true,
      "mcp-everything": true,
      "mcp-echo": true,
      "network-monitor": undefined,
    });
  });

  test("a pod mounts a writable /tmp and its extra volumes, nothing else writable", () => {
    const spec = component(prod, "mcp-memory");
    const template = podTemplate(spec, {
      image: "img@sha256:0",
      mounts: [
        {
          name: "data",
          mountPath: "/data",
          readOnly: false,
          source: { persistentVolumeClaim: { claimName: "mcp-memory-data" } },
        },
      ],
    });
    const pod = template.spec as Record<string, any>;
    expect(pod.volumes).toStrictEqual([
      { name: "tmp", emptyDir: { sizeLimit: "256Mi" } },
      { name: "data", persistentVolumeClaim: { claimName: "mcp-memory-data" } },
    ]);
    expect(pod.containers[0].volumeMounts).toStrictEqual([
      { name: "tmp", mountPath: "/tmp", readOnly: false },
      { name: "data", mountPath: "/data", readOnly: false },
    ]);
    expect([pod.enableServiceLinks, pod.terminationGracePeriodSeconds]).toStrictEqual([false, 30]);
    expect(pod.containers[0].lifecycle).toBeUndefined();
    expect(template.metadata).toStrictEqual({
      labels: labelsOf(spec),
      annotations: {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "11105",
        "prometheus.io/path": "/metrics",
      },
    });
    expect(claimSpec(spec, "efs")).toStrictEqual({
      accessModes: ["ReadWriteMany"],
      storageClassName: "efs",
      resources: { requests: { storage: "1Gi" } },
    });
  });

  test("only autoscaled components get an HPA, and their Deployments no replicas", () => {
    const router = component(prod, "router");
    const monitor = component(prod, "network-monitor");
    expect(hpaSpec(monitor)).toBeUndefined();
    expect(hpaSpec(router)?.behavior).toStrictEqual({
      scaleUp: { stabilizationWindowSeconds: 0 },
      scaleDown: {
        stabilizationWindowSeconds: 300,
        policies: [{ type: "Pods", value: 1, periodSeconds: 60 }],
      },
    });
    expect("replicas" in deploymentSpec(router, {})).toBe(false);
    expect(deploymentSpec(monitor, {}).replicas).toBe(1);
    expect(pdbSpec(monitor)).toStrictEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { "app.kubernetes.io/name": "network-monitor" } },
    });
  });

  test("Services are headless exactly where HAProxy resolves pods: the router and MCP services", () => {
    expect(prod.components.filter(isHeadless).map((c) => c.name)).toStrictEqual([
      "router",
      "mcp-files",
      "mcp-memory",
      "mcp-everything",
      "mcp-echo",
    ]);
    expect(serviceSpec(component(prod, "network-monitor"))).toStrictEqual({
      type: "ClusterIP",
      selector: { "app.kubernetes.io/name": "network-monitor" },
      ports: [{ name: "http", port: 11091, targetPort: "http", protocol: "TCP" }],
    });
  });
});
