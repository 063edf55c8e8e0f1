/**
 * The JSON logger every service uses (pino), configured so secrets cannot leak through it:
 * credentials in request/response headers and secret environment variables are redacted
 * wherever they appear in a log object.
 */
import pino from "pino";
import type { DestinationStream, Logger } from "pino";
import type { LogLevel } from "./env";
import { SECRET_ENV_NAMES } from "./env";

/** The pino logger type, re-exported so services need not import pino themselves. */
export type { Logger } from "pino";

/** What replaces a redacted value. */
export const REDACTED = "[redacted]";

/** Headers that carry credentials (lower case, as Node delivers them); a session id is one. */
const SECRET_HEADERS = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-consul-token",
  "mcp-session-id",
];

/**
 * Query parameters that carry credentials (lower case): the legacy SSE endpoint's session ids
 * (`sessionId`, and the router's sealed `s`), and the usual token names.
 */
const SECRET_QUERY_PARAMETERS: ReadonlySet<string> = new Set(["sessionid", "s", "token", "access_token"]);

/** A request URL as it may be logged: the values of `SECRET_QUERY_PARAMETERS` redacted. */
export function loggableUrl(url: string): string {
  const query = url.indexOf("?");
  if (query < 0) return url;
  const pairs = url
    .slice(query + 1)
    .split("&")
    .map((pair) => {
      const name = pair.split("=", 1)[0] ?? "";
      return SECRET_QUERY_PARAMETERS.has(name.toLowerCase()) ? `${name}=${REDACTED}` : pair;
    });
  return `${url.slice(0, query)}?${pairs.join("&")}`;
}

/**
 * `url` with any user name and password replaced by `***`, and each query parameter's value by
 * `***` (a health URL may carry a token there); other URLs are returned unchanged.
 */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.username === "" && parsed.password === "" && parsed.search === "") return url;
  if (parsed.username !== "" || parsed.password !== "") {
    parsed.username = "***";
    parsed.password = "";
  }
  if (parsed.search !== "") {
    const names = [...parsed.searchParams.keys()];
    parsed.search = names.map((name) => `${encodeURIComponent(name)}=***`).join("&");
  }
  return parsed.toString();
}

/** Objects that commonly hold headers in log lines: fastify's req/res and our own `headers` fields. */
const HEADER_HOLDERS = ["req.headers", "res.headers", "request.headers", "headers", "*.headers"];

/**
 * The pino `redact` paths: every secret header under every header holder, and every secret
 * environment variable at the top level or one level down (such as `env.ROUTER_SESSION_KEY`).
 */
export const REDACT_PATHS: readonly string[] = [
  ...HEADER_HOLDERS.flatMap((holder) => SECRET_HEADERS.map((header) => `${holder}["${header}"]`)),
  ...SECRET_ENV_NAMES.flatMap((name) => [name, `*.${name}`]),
];

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** Service name, written as `service` on every line. */
  readonly service: string;
  /** Minimum level written. */
  readonly level: LogLevel;
  /** Service version, written as `version` on every line. */
  readonly version?: string;
  /** Where lines go; defaults to synchronous stdout so nothing is lost on `process.exit`. */
  readonly destination?: DestinationStream;
}

/**
 * Creates the service logger: one JSON object per line with `level` as a label, an ISO `time`,
 * `service`, `version` and `msg`.
 */
export function createLogger(options: LoggerOptions): Logger {
  const base: Record<string, string> = { service: options.service };
  if (options.version !== undefined) base.version = options.version;
  return pino(
    {
      level: options.level,
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
