/**
 * The router's environment (DESIGN.md "How a service is started", router table), validated at
 * boot. The DESIGN table names the three variables every deployment sets; the tuning knobs below
 * them have defaults that suit both the dev stack and prod, and are documented in
 * services/README.md.
 */
import {
  acceptedSessionSecretsField,
  commaListField,
  commonEnvSchema,
  httpUrlField,
  integerField,
  jsonField,
  mcpTransportEnvShape,
  routerAuthTokensField,
  serviceIdField,
  sessionSecretField,
} from "@mcp-platform/shared";
import { z } from "zod";

/** Default router port: the MCP gateway port HAProxy fronts. */
export const ROUTER_DEFAULT_PORT = 3000;

/**
 * `ROUTER_STATIC_SERVICES`: MCP service id → its instances' `/mcp` URLs, for discovery without
 * Consul, e.g. `{"files": ["http://127.0.0.1:11101/mcp"]}`. Ids become tool-name prefixes
 * (`files__read_file`), hence the restricted alphabet.
 */
export const StaticServicesSchema = z.record(
  serviceIdField(),
  z.array(httpUrlField()).min(1, { error: "must list at least one URL" }),
);

/** Parsed `ROUTER_STATIC_SERVICES`. */
export type StaticServices = z.infer<typeof StaticServicesSchema>;

/** A peer router's base URL (`http://10.0.0.7:3000`), without path or trailing slash. */
const peerUrlField = () => httpUrlField().transform((url) => url.replace(/\/+$/, ""));

/** `ROUTER_MAX_STREAMS` when unset. */
export const DEFAULT_MAX_STREAMS = 5_000;

/** Every variable the router reads. */
export const RouterEnvSchema = commonEnvSchema({ port: ROUTER_DEFAULT_PORT, serviceName: "router" }).extend({
  /** Static discovery, used instead of (or besides) Consul. */
  ROUTER_STATIC_SERVICES: jsonField(StaticServicesSchema).optional(),
  /**
   * Secret from which session ids are sealed (AES-256-GCM, key derived with HKDF). Every replica
   * must share it; when unset, a random per-process key is used and sessions cannot move between
   * replicas (a warning says so at boot).
   */
  ROUTER_SESSION_KEY: sessionSecretField().optional(),
  /**
   * Further secrets whose session ids this replica opens but never seals with (comma-separated):
   * the next key before a rotation, the previous one after it (README, "Configuration"). Being
   * a list, its keys cannot contain commas or whitespace.
   */
  ROUTER_SESSION_ACCEPTED_KEYS: acceptedSessionSecretsField().default([]),
  /** Bearer tokens clients must present; when unset the router does not require one. */
  ROUTER_AUTH_TOKENS: routerAuthTokensField().optional(),
  /**
   * The other router replicas' base URLs when there is no Consul (with Consul the router finds
   * them as instances of its own SERVICE_NAME). Used to forward client cancellations to the
   * replica running the call.
   */
  ROUTER_PEERS: commaListField(peerUrlField()).default([]),
  /** How long a sealed session id stays valid after `initialize` (default 7 days). */
  ROUTER_SESSION_TTL_SECONDS: integerField(60, 90 * 86_400).default(7 * 86_400),
  /** Upstream call timeout, reset by every progress notification (default 60 s). */
  ROUTER_CALL_TIMEOUT_MS: integerField(100, 3_600_000).default(60_000),
  /** Upper bound of one upstream call however much progress it reports (default 10 min). */
  ROUTER_CALL_MAX_MS: integerField(100, 86_400_000).default(600_000),
  /** Interval of the periodic catalog re-list (default 30 s). */
  ROUTER_CATALOG_REFRESH_MS: integerField(100, 3_600_000).default(30_000),
  /** Consecutive transport failures that eject an instance (default 3). */
  ROUTER_EJECT_AFTER_FAILURES: integerField(1, 100).default(3),
  /** First ejection period; doubled per failed probe up to 30 s (default 1 s). */
  ROUTER_EJECT_BASE_MS: integerField(10, 600_000).default(1_000),
  /** On SIGTERM the router keeps serving until no request came for this long (default 1 s)… */
  ROUTER_DRAIN_QUIET_MS: integerField(0, 60_000).default(1_000),
  /** …but no longer than this (default 10 s; keep it below SHUTDOWN_TIMEOUT_MS). */
  ROUTER_DRAIN_MAX_MS: integerField(0, 300_000).default(10_000),
  /**
   * Most long-lived client streams (standalone `GET /mcp`, legacy `GET /sse`, relayed passthrough
   * `GET`s) this replica holds at once; beyond it a new stream gets 503 with `Retry-After`
   * (default 5,000, which fits the default 512 MiB memory limit; the prod stack derives it from
   * the router's limit).
   */
  ROUTER_MAX_STREAMS: integerField(1, 1_000_000).default(DEFAULT_MAX_STREAMS),
  ...mcpTransportEnvShape,
});

/** The router's validated environment. */
export type RouterEnv = z.infer<typeof RouterEnvSchema>;
