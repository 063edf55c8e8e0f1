/**
 * Environment loading: the variables every service reads, and `loadEnv`, which validates a
 * process environment against a zod schema and fails with one error naming every bad variable.
 *
 * DESIGN.md "Service contracts": services are configured by environment variables, validated
 * with zod at boot, and fail fast with a clear message. Secret values are never echoed.
 */
import { z } from "zod";
import {
  commaListField,
  consulAddressField,
  hostField,
  integerField,
  originField,
  portField,
  serviceIdField,
} from "./env-fields";

/** pino's levels, plus "silent". */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** Log level accepted by `LOG_LEVEL`. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Variables whose values must never appear in an error message or a log line.
 *
 * MCP_SERVER, MONITOR_TARGETS and ROUTER_STATIC_SERVICES are listed although they are not secrets
 * themselves: MCP_SERVER's `env` (and sometimes `args`) carries the bridged server's credentials,
 * such as a GitHub token or a database URL, and a monitor target's or a static instance's URL may
 * carry a password or a token.
 */
export const SECRET_ENV_NAMES: readonly string[] = [
  "ROUTER_SESSION_KEY",
  "ROUTER_SESSION_ACCEPTED_KEYS",
  "ROUTER_AUTH_TOKENS",
  "CONSUL_HTTP_TOKEN",
  "MCP_SERVER",
  "MONITOR_TARGETS",
  "ROUTER_STATIC_SERVICES",
];

/** Defaults that differ between services. */
export interface CommonEnvDefaults {
  /** Default `PORT` (router 3000, mcp-server 8080, network-monitor 11091). */
  readonly port: number;
  /** Default `SERVICE_NAME`, the name registered in Consul. */
  readonly serviceName: string;
}

/**
 * The variables every service reads (DESIGN.md "How a service is started"). Services extend it
 * with `.extend({...})`.
 */
export function commonEnvSchema(defaults: CommonEnvDefaults) {
  return z.object({
    /** Bind address. */
    HOST: hostField().default("0.0.0.0"),
    /** Listen port; 0 lets the OS choose (the bound port is what gets registered). */
    PORT: portField().default(defaults.port),
    /** Name to register under in Consul, such as `mcp-files` or `router`. */
    SERVICE_NAME: serviceIdField().default(defaults.serviceName),
    /** Consul agent HTTP address; when unset the service does not register. */
    CONSUL_HTTP_ADDR: consulAddressField().optional(),
    /** Consul ACL token (Consul's standard variable), sent as `X-Consul-Token`. */
    CONSUL_HTTP_TOKEN: z.string().min(1).optional(),
    /** How often a registered service checks that Consul still holds it (and registers again). */
    CONSUL_RESYNC_INTERVAL_MS: integerField(1000, 600_000).default(30_000),
    /** Address advertised in Consul; derived from HOST or the network interfaces when unset. */
    SERVICE_ADDRESS: hostField().optional(),
    /** pino log level. */
    LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` }).default("info"),
    /** How long SIGTERM waits for in-flight requests before closing connections by force. */
    SHUTDOWN_TIMEOUT_MS: integerField(0, 600_000).default(25_000),
  });
}

/** The validated common environment. */
export type CommonEnv = z.infer<ReturnType<typeof commonEnvSchema>>;

/** Default `MCP_MAX_BODY_BYTES` (1 MiB). */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

/**
 * Variables of the services that speak MCP over HTTP (router and mcp-server), to spread into
 * their schemas: the browser origins allowed (DNS-rebinding protection) and the body size cap.
 */
export const mcpTransportEnvShape = {
  /** Comma-separated origins allowed in the `Origin` header; empty means none. */
  MCP_ALLOWED_ORIGINS: commaListField(originField()).default([]),
  /** Maximum request body in bytes. */
  MCP_MAX_BODY_BYTES: integerField(1024, 100 * 1024 * 1024).default(DEFAULT_MAX_BODY_BYTES),
  /**
   * Comma-separated extra host names accepted in the `Host` header (e.g. a public gateway name).
   * IP literals, `localhost`, single-label names and cluster-internal names are always accepted.
   */
  MCP_ALLOWED_HOSTS: commaListField(hostField()).default([]),
};

/** One bad variable, as reported by `EnvError`. */
export interface EnvIssue {
  /** The environment variable, such as `PORT`. */
  readonly variable: string;
  /** Where in the variable the problem is: `PORT`, or `MONITOR_TARGETS[1].url` inside JSON. */
  readonly path: string;
  /** What is wrong, phrased to follow the path. */
  readonly message: string;
  /** The value as shown to humans: quoted, truncated, `<redacted>` for secrets, `<unset>`. */
  readonly shownValue: string;
}

/** Thrown by `loadEnv`; its message names every bad variable and (unless secret) its value. */
export class EnvError extends Error {
  /** Every problem found, in schema order. */
  readonly issues: readonly EnvIssue[];

  constructor(issues: readonly EnvIssue[]) {
    super(
      `invalid environment: ${issues.map((i) => `${i.path} ${i.message} (got ${i.shownValue})`).join("; ")}`,
    );
    this.name = "EnvError";
    this.issues = issues;
  }
}

/** Options of `loadEnv`. */
export interface LoadEnvOptions {
  /** Names whose values are never shown; defaults to `SECRET_ENV_NAMES`. */
  readonly secrets?: readonly string[];
}

/** Values longer than this are cut in error messages: a bad 10 kB JSON helps no one. */
const MAX_SHOWN_VALUE = 120;

/**
 * Validates `env` against `schema` and returns the typed result.
 *
 * Empty strings count as unset, so `CONSUL_HTTP_ADDR=` in a compose file means "no Consul" rather
 * than "invalid URL". Throws `EnvError` naming every bad variable at once.
 */
export function loadEnv<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
  options: LoadEnvOptions = {},
): z.output<S> {
  const secrets = new Set(options.secrets ?? SECRET_ENV_NAMES);
  const present: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value !== "") present[name] = value;
  }
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  throw new EnvError(result.error.issues.map((issue) => describeIssue(issue, present, secrets)));
}

function describeIssue(
  issue: z.core.$ZodIssue,
  env: Readonly<Record<string, string>>,
  secrets: ReadonlySet<string>,
): EnvIssue {
  const variable = String(issue.path[0] ?? "(environment)");
  const value = env[variable];
  const secret = secrets.has(variable);
  const path = formatPath(issue.path);
  if (value === undefined) {
    // Unset and still wrong: missing, or (a cross-field check) wrong at its default value.
    const message = issue.code === "invalid_type" ? "is required" : issue.message;
    return { variable, path, message, shownValue: "<unset>" };
  }
  // A bad record key (`{"Files": …}`) comes wrapped as "Invalid key in record": say why instead.
  const text =
    issue.code === "invalid_key"
      ? `is not a valid key: ${issue.issues.map((inner) => inner.message).join("; ")}`
      : issue.message;
  // zod's built-in messages do not quote the input, but a refinement might: scrub to be sure.
  // (A blank value cannot be told in a message, and scrubbing it would cut every word apart.)
  const message = secret && value.trim() !== "" ? text.split(value).join("<redacted>") : text;
  return { variable, path, message, shownValue: secret ? "<redacted>" : showValue(value) };
}

/** `["MONITOR_TARGETS", 1, "url"]` → `MONITOR_TARGETS[1].url`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out === "" ? "(environment)" : out;
}

function showValue(value: string): string {
  const cut = value.length > MAX_SHOWN_VALUE ? `${value.slice(0, MAX_SHOWN_VALUE)}…` : value;
  return JSON.stringify(cut);
}
