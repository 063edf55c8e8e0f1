/**
 * Renders `haproxy.cfg` from the topology. Pure text in, text out; tested with real `haproxy -c`.
 *
 * - `gateway` (front port 3000) balances round-robin over router replicas. The router keeps
 *   sessions resumable on any replica, so no stickiness is needed there (DESIGN "router").
 * - One frontend per MCP service on its 111xx port, for direct access to that service.
 * - The stats page (11099) also answers `/healthz` for container health checks.
 * - Backends come from Consul DNS (dev), Kubernetes DNS over headless Services (prod), or fixed
 *   lists (local runs and tests).
 */
import { JSONRPC_ERROR, jsonRpcErrorBody } from "../services/shared/src/request-guard";
import type { ComponentSpec, Topology } from "./topology";
import { clusterHost, METRICS_PATH } from "./topology";

/** Where HAProxy reads its config inside the official image (both targets mount it there). */
export const HAPROXY_CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg";

/** Where backend servers come from. */
export type Backends =
  /** Consul DNS SRV records (`_<name>._tcp.service.consul`), filled at run time: the dev stack. */
  | { readonly kind: "consul-dns"; readonly nameserver: string }
  /** Fixed `host:port` lists per component name: local runs and tests. */
  | { readonly kind: "static"; readonly servers: Readonly<Record<string, readonly string[]>> }
  /**
   * Kubernetes DNS: each backend's headless Service (`<name>.<namespace>.svc.cluster.local`)
   * answers with the A records of its ready pods, through the nameservers of the pod's
   * `/etc/resolv.conf` (`parse-resolv-conf`): the prod stack.
   */
  | { readonly kind: "kubernetes-dns" };

/** The `resolvers` section a backend kind needs, by name, or nothing for static servers. */
const RESOLVERS = { "consul-dns": "consul", "kubernetes-dns": "kube" } as const;

/** How long HAProxy trusts and retries DNS answers; the same for both DNS kinds. */
const RESOLVER_TIMINGS = [
  "accepted_payload_size 8192",
  "resolve_retries 3",
  "timeout resolve 1s",
  "timeout retry 1s",
  "hold valid 5s",
  "hold obsolete 10s",
];

/**
 * The answers HAProxy gives itself (no router up, a backend that died mid-answer, a timeout), as
 * the JSON-RPC errors with a null id the services answer theirs with: an MCP client reads those,
 * not HAProxy's HTML pages.
 */
export const HAPROXY_ERRORS: readonly { status: number; code: number; message: string }[] = [
  {
    status: 400,
    code: JSONRPC_ERROR.invalidRequest,
    message: "Bad Request: the gateway could not read the HTTP request",
  },
  {
    status: 408,
    code: JSONRPC_ERROR.refused,
    message: "Request Timeout: the request did not arrive in time",
  },
  { status: 500, code: JSONRPC_ERROR.internalError, message: "Internal Server Error in the gateway" },
  {
    status: 502,
    code: JSONRPC_ERROR.internalError,
    message: "Bad Gateway: the backend failed before it answered",
  },
  {
    status: 503,
    code: JSONRPC_ERROR.internalError,
    message: "Service Unavailable: no backend is up, try again shortly",
  },
  {
    status: 504,
    code: JSONRPC_ERROR.internalError,
    message: "Gateway Timeout: the backend did not answer in time",
  },
];

/** The `http-error` lines of `HAPROXY_ERRORS` (single-quoted: HAProxy takes the JSON as is). */
function errorLines(): string[] {
  return HAPROXY_ERRORS.map(({ status, code, message }) => {
    const body = JSON.stringify(jsonRpcErrorBody(code, message));
    return `http-error status ${status} content-type application/json string '${body}'`;
  });
}

/** The front ports' answer to `/info` and `/metrics` (see `client` in `renderHaproxyConfig`). */
const NOT_FOR_CLIENTS = JSON.stringify(
  jsonRpcErrorBody(JSONRPC_ERROR.methodNotFound, "Not Found: operational endpoints are not served here"),
);

/** `option httplog`'s format with `"%HM %HPO %HV"` (method, path, version) for `%{+Q}r`. */
const HTTP_LOG_FORMAT =
  "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs " +
  '\\"%HM %HPO %HV\\"';

/** How long a stopping HAProxy finishes open requests and streams before it closes them. */
export const HAPROXY_HARD_STOP_SECONDS = 30;

/** Rendering options. */
export interface RenderOptions {
  /** Address the frontends bind to: `*` in containers, `127.0.0.1` for local runs. */
  readonly bindAddress?: string;
  /**
   * A load balancer in front terminates TLS for every client frontend (prod with `eks.tls`):
   * HAProxy then tells the backends `X-Forwarded-Proto: https`, replacing whatever the client
   * sent, so the router names its public URLs (OAuth resource metadata) with the scheme the
   * client used.
   */
  readonly tlsTerminatedInFront?: boolean;
  /** The process-wide `maxconn`; `DEFAULT_MAX_CONNECTIONS` unless a memory limit calls for less. */
  readonly maxConnections?: number;
  /**
   * `nbthread`: HAProxy's worker threads. Unset, HAProxy starts one per CPU it may run on, which
   * in a container is every core of the node, whatever CPU limit the container has.
   */
  readonly threads?: number;
  /**
   * `noreuseport`: a port taken by another process fails the start. HAProxy otherwise binds with
   * SO_REUSEPORT, and a second HAProxy on the same port (a second `npm run local`) starts fine
   * and takes half of the first one's clients. Containers have their own network namespace.
   */
  readonly exclusivePorts?: boolean;
}

/** `maxconn` where HAProxy has no memory limit (the dev container, local runs). */
export const DEFAULT_MAX_CONNECTIONS = 20_000;

/** Worst-case memory of one connection: two default 16 KiB buffers and its session state. */
const BYTES_PER_CONNECTION = 2 * 16_384 + 1_024;
/** Kept for the process itself, its stick tables and its maps. */
const RESERVED_BYTES = 64 * 1024 * 1024;

/**
 * The `nbthread` for a container with this CPU limit: one thread per whole core, at least one.
 * HAProxy counts the cores it may be scheduled on, not the CPU quota, so on a 2-vCPU node a pod
 * limited to one core would run two threads that together use up each period's quota early and
 * then all stall until the next period (CFS throttling): latency spikes on every request.
 */
export function threadsFor(cpuLimitMillis: number): number {
  return Math.max(1, Math.floor(cpuLimitMillis / 1000));
}

/**
 * The `maxconn` a container with this memory limit can hold with every connection at its worst
 * case, so a surge queues in the listen backlog instead of getting the pod OOM-killed (which would
 * drop every open stream). 256Mi gives 5,957.
 */
export function maxConnectionsFor(memoryLimitBytes: number): number {
  return Math.max(256, Math.floor((memoryLimitBytes - RESERVED_BYTES) / BYTES_PER_CONNECTION));
}

const INDENT = "    ";

function section(header: string, lines: readonly string[]): string {
  return [header, ...lines.map((l) => (l === "" ? "" : `${INDENT}${l}`))].join("\n");
}

function servers(c: ComponentSpec, backends: Backends, slots: number): string[] {
  const resolved = (target: string, resolvers: string) =>
    `server-template ${c.name}- ${slots} ${target} resolvers ${resolvers} resolve-prefer ipv4 init-addr none check`;
  if (backends.kind === "consul-dns") {
    return [resolved(`_${c.consulName ?? c.name}._tcp.service.consul`, RESOLVERS["consul-dns"])];
  }
  if (backends.kind === "kubernetes-dns") {
    // A records carry no port, so the template names the component's own port.
    return [resolved(`${clusterHost(c)}:${c.port}`, RESOLVERS["kubernetes-dns"])];
  }
  const list = backends.servers[c.name];
  if (list === undefined || list.length === 0) {
    throw new Error(`static backends name no servers for "${c.name}"`);
  }
  return list.map((addr, i) => {
    if (!/^[\w.-]+:\d+$/.test(addr))
      throw new Error(`static server "${addr}" of "${c.name}" is not host:port`);
    return `server ${c.name}-${i + 1} ${addr} check`;
  });
}

function healthCheck(c: ComponentSpec): string[] {
  if (c.readyPath === undefined) return [];
  return ["option httpchk", `http-check send meth GET uri ${c.readyPath}`, "http-check expect status 200"];
}

/** The router backend's retries (behaviour shown against real HAProxy in the live tests). */
export const ROUTER_RETRIES: readonly string[] = [
  "# A GET (a client's stream) a replica refused with 503 (draining, or at its stream cap) or",
  "# closed unanswered is sent again, to another replica by the last retry. A GET is safe to",
  "# repeat; other requests are retried only when their connection failed (never sent).",
  "retry-on conn-failure empty-response 503",
  "http-request disable-l7-retry unless METH_GET",
];

/** Render the whole `haproxy.cfg`. Throws when a static backend lacks servers. */
export function renderHaproxyConfig(
  topology: Topology,
  backends: Backends,
  options: RenderOptions = {},
): string {
  const bind = options.bindAddress ?? "*";
  // Every frontend clients reach: the gateway and each direct service port.
  const client = (port: number, backend: string) => [
    `bind ${bind}:${port}`,
    "option forwardfor",
    "# A service's /info (its instances, settings) and /metrics are for the operators' network:",
    "# Prometheus scrapes each pod, the monitor probes each instance. Clients are not shown them.",
    `http-request return status 404 content-type application/json string '${NOT_FOR_CLIENTS}' if { path /info /metrics } || { path_beg /info/ /metrics/ }`,
    ...(options.tlsTerminatedInFront === true ? ["http-request set-header X-Forwarded-Proto https"] : []),
    `default_backend ${backend}`,
  ];
  const stream = `${topology.haproxy.streamTimeoutSeconds}s`;
  const slots = topology.haproxy.serverSlots;
  const router = topology.components.find((c) => c.name === "router");
  if (router === undefined) throw new Error("topology has no router component");

  const parts: string[] = [
    "# Generated by infra/haproxy.ts from the stack topology. Do not edit by hand.",
    section("global", [
      "log stdout format raw local0 info",
      `maxconn ${options.maxConnections ?? DEFAULT_MAX_CONNECTIONS}`,
      ...(options.threads === undefined ? [] : [`nbthread ${options.threads}`]),
      ...(options.exclusivePorts === true ? ["noreuseport"] : []),
      `hard-stop-after ${HAPROXY_HARD_STOP_SECONDS}s`,
    ]),
    section("defaults", [
      "mode http",
      "log global",
      "# HAProxy's `option httplog` line, with the request's path in place of its whole URI: a",
      "# query can carry a session id (the legacy SSE endpoint's), which logs must not hold.",
      `log-format "${HTTP_LOG_FORMAT}"`,
      "option dontlognull",
      "option redispatch",
      "# Stream each message at once: without it HAProxy holds SSE frames for up to ~200 ms.",
      "option http-no-delay",
      "# A client's close ends its request at the backend at once, not when the timeouts run out:",
      "# a closed stream frees its place there and cancels the calls it still had running.",
      "option abortonclose",
      "# HAProxy's own error answers, as JSON-RPC errors.",
      ...errorLines(),
      "retries 2",
      "timeout connect 5s",
      "timeout http-request 15s",
      "timeout http-keep-alive 15s",
      "timeout queue 30s",
      "# MCP streams (Streamable HTTP GET, legacy SSE) stay open for long; the services send keep-alives.",
      `timeout client ${stream}`,
      `timeout server ${stream}`,
      `timeout tunnel ${stream}`,
      "timeout client-fin 10s",
      "timeout server-fin 10s",
      "default-server inter 2s fall 3 rise 2",
    ]),
  ];

  if (backends.kind === "consul-dns") {
    parts.push(
      section(`resolvers ${RESOLVERS["consul-dns"]}`, [
        `nameserver consul ${backends.nameserver}`,
        ...RESOLVER_TIMINGS,
      ]),
    );
  } else if (backends.kind === "kubernetes-dns") {
    parts.push(
      section(`resolvers ${RESOLVERS["kubernetes-dns"]}`, ["parse-resolv-conf", ...RESOLVER_TIMINGS]),
    );
  }

  parts.push(
    section("frontend stats", [
      `bind ${bind}:${topology.ports.stats}`,
      "monitor-uri /healthz",
      "# Prometheus metrics of every frontend, backend and server (HAProxy's built-in exporter).",
      `http-request use-service prometheus-exporter if { path ${METRICS_PATH} }`,
      "stats enable",
      "stats uri /",
      "stats refresh 10s",
      "stats show-legends",
    ]),
    section("frontend gateway", client(topology.ports.gateway, "router")),
    section("backend router", [
      "balance roundrobin",
      ...ROUTER_RETRIES,
      ...healthCheck(router),
      ...servers(router, backends, slots),
    ]),
  );

  for (const entry of topology.catalog) {
    const c = topology.components.find((x) => x.name === entry.component);
    if (c === undefined) throw new Error(`catalog entry "${entry.id}" has no component`);
    parts.push(
      section(`frontend ${c.name}`, client(entry.port, c.name)),
      section(`backend ${c.name}`, [
        "# Direct access talks to one mcp-server instance, whose sessions live in memory: a new",
        "# session goes round-robin, and every later request of it to the instance that created",
        "# it, which names it in the Mcp-Session-Id header of its answer (also of a legacy",
        "# GET /sse stream, whose POSTs name it in the sessionId query parameter). Not by source",
        "# address: behind Docker's port proxy every client has the same one.",
        "balance roundrobin",
        "stick-table type string len 128 size 100k expire 1h",
        "stick on req.hdr(mcp-session-id)",
        "stick on url_param(sessionId)",
        "stick store-response res.hdr(mcp-session-id)",
        ...healthCheck(c),
        ...servers(c, backends, slots),
      ]),
    );
  }
  return `${parts.join("\n\n")}\n`;
}
