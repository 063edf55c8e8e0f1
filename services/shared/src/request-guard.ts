/**
 * DNS-rebinding protection and JSON-RPC-shaped HTTP errors for the MCP endpoints of the router
 * and the mcp-server (MCP spec, "Security Warning" of Streamable HTTP).
 *
 * - `Origin`, when a browser sends one, must be an allowed origin (`MCP_ALLOWED_ORIGINS`), or a
 *   loopback origin when none is configured.
 * - `Host` must be an IP literal, `localhost`, a single-label name (a container or Compose
 *   service), a cluster-internal name (`.local`, `.internal`, `.consul`, `.cluster.local`), or a
 *   configured name (`MCP_ALLOWED_HOSTS`, and the hosts of the allowed origins). A rebinding
 *   page is served from a public multi-label name, which fails this.
 */
import { isIP } from "node:net";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/** JSON-RPC error codes used at the HTTP layer. */
export const JSONRPC_ERROR = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** Server-defined: the request was refused before reaching MCP (origin, host, session). */
  refused: -32000,
} as const;

/** A JSON-RPC error body with a null id, for failures before a message could be read. */
export function jsonRpcErrorBody(code: number, message: string): Record<string, unknown> {
  return { jsonrpc: "2.0", error: { code, message }, id: null };
}

/**
 * A query parameter given exactly once and not empty, or undefined. Fastify's query parser turns
 * a repeated parameter (`?s=a&s=b`) into an array, which a handler must not take for a string.
 */
export function singleQueryValue(query: unknown, name: string): string | undefined {
  const value = (query as Record<string, unknown> | null | undefined)?.[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Send an HTTP error as a JSON-RPC error body. */
export function sendJsonRpcError(
  reply: FastifyReply,
  status: number,
  code: number,
  message: string,
): FastifyReply {
  return reply.code(status).type("application/json").send(jsonRpcErrorBody(code, message));
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);
const INTERNAL_SUFFIXES = [".local", ".internal", ".consul", ".cluster.local", ".localhost"];

/**
 * A well-formed `Host` (lower-cased): a bracketed IPv6 address or a name (IPv4 included) whose
 * dot-separated labels neither are empty nor start or end with `-` (a trailing dot is allowed),
 * and an optional port of up to five digits (RFC 9110 allows an empty one).
 */
const HOST_HEADER =
  /^(?:\[[0-9a-f:.]+\]|(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?\.?)(?::(\d{0,5}))?$/;

/** Whether a `Host` header value is well formed (`HOST_HEADER`, its port at most 65535). */
export function wellFormedHost(hostHeader: string): boolean {
  const match = HOST_HEADER.exec(hostHeader.trim().toLowerCase());
  return match !== null && Number(match[1] ?? 0) <= 65_535;
}

/** The host name of a `Host` header value, without port and with IPv6 brackets kept. */
export function hostnameOf(hostHeader: string): string {
  const value = hostHeader.trim().toLowerCase();
  if (value.startsWith("[")) return value.slice(0, value.indexOf("]") + 1);
  const colon = value.lastIndexOf(":");
  return colon > 0 && value.indexOf(":") === colon ? value.slice(0, colon) : value;
}

/** Settings of the guard. */
export interface RequestGuardOptions {
  /** Exact allowed origins (`scheme://host[:port]`). */
  readonly allowedOrigins: readonly string[];
  /** Extra allowed host names. */
  readonly allowedHosts: readonly string[];
}

/** Decides whether a request's `Host` and `Origin` are acceptable. */
export class RequestGuard {
  private readonly origins: Set<string>;
  private readonly hosts: Set<string>;

  constructor(options: RequestGuardOptions) {
    this.origins = new Set(options.allowedOrigins.map((o) => o.replace(/\/$/, "").toLowerCase()));
    this.hosts = new Set(options.allowedHosts.map((h) => h.toLowerCase()));
    for (const origin of this.origins) this.hosts.add(hostnameOf(new URL(origin).host));
  }

  /** Why the request must be refused, or undefined when it may pass. */
  refusal(headers: { host?: string; origin?: string | string[] }): string | undefined {
    const host = headers.host;
    if (host === undefined || host === "") return "missing Host header";
    if (!wellFormedHost(host)) return `Host ${JSON.stringify(host)} is malformed`;
    const name = hostnameOf(host);
    if (!this.hostAllowed(name)) return `Host ${JSON.stringify(host)} is not allowed`;
    const origin = Array.isArray(headers.origin) ? headers.origin[0] : headers.origin;
    if (origin !== undefined && !this.allowsOrigin(origin))
      return `Origin ${JSON.stringify(origin)} is not allowed`;
    return undefined;
  }

  private hostAllowed(name: string): boolean {
    if (LOOPBACK.has(name) || this.hosts.has(name)) return true;
    const bare = name.startsWith("[") ? name.slice(1, -1) : name;
    if (isIP(bare) !== 0) return true;
    if (!name.includes(".")) return true;
    return INTERNAL_SUFFIXES.some((suffix) => name.endsWith(suffix));
  }

  /** Whether a browser page on `origin` may use the endpoints (also what CORS admits). */
  allowsOrigin(origin: string): boolean {
    const normalized = origin.replace(/\/$/, "").toLowerCase();
    if (this.origins.size > 0) return this.origins.has(normalized);
    try {
      return LOOPBACK.has(hostnameOf(new URL(normalized).host));
    } catch {
      return false;
    }
  }

  /** A fastify `onRequest` hook answering 403 with a JSON-RPC error for a refused request. */
  hook(): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
    return async (request, reply) => {
      const why = this.refusal({ host: request.headers.host, origin: request.headers.origin });
      if (why === undefined) return;
      request.log.warn({ reqId: request.id, reason: why }, "request refused");
      await sendJsonRpcError(reply, 403, JSONRPC_ERROR.refused, `Forbidden: ${why}`);
    };
  }
}

/** An oversized upload up to this many times the limit is read to its end before the 413. */
const OVERSIZED_DRAIN_FACTOR = 16;

/**
 * Sends `answer` once the client has finished its upload. Answering mid-upload lets HAProxy (or
 * any proxy) close the connection while the client still writes, and the client may then lose
 * the answer to the reset: it sees "socket hang up" instead of 413. Uploads far over the limit
 * are not read; they are answered at once with `Connection: close`.
 */
function afterUpload(
  request: FastifyRequest,
  reply: FastifyReply,
  maxBodyBytes: number,
  answer: () => FastifyReply,
): FastifyReply | Promise<FastifyReply> {
  const raw = request.raw;
  const declared = Number(request.headers["content-length"] ?? 0);
  if (raw.complete || raw.destroyed) return answer();
  if (declared > maxBodyBytes * OVERSIZED_DRAIN_FACTOR) {
    void reply.header("connection", "close");
    return answer();
  }
  return new Promise((resolve) => {
    const done = () => {
      raw.off("end", done).off("close", done);
      resolve(answer());
    };
    raw.on("end", done).on("close", done);
    raw.resume();
  });
}

/** The JSON-RPC parse error's message. */
export const PARSE_ERROR_MESSAGE =
  "Parse error: the body is not valid JSON (or it holds a __proto__ or constructor.prototype key, which is refused)";

/**
 * How an MCP scope (the routes of `/mcp`, `/sse`, `/messages`) reads bodies: JSON only (fastify's
 * `text/plain` parser is removed, so such a body gets the same 415 as any other non-JSON type,
 * not a misleading "not a JSON-RPC message"), and errors as `mcpErrorHandler` answers them.
 */
export function mcpBodyRules(scope: FastifyInstance, maxBodyBytes: number): void {
  scope.removeContentTypeParser("text/plain");
  // Fastify's own JSON parsing (prototype-poisoning checks included), keeping the text it parsed.
  const parseJson = scope.getDefaultJsonParser("error", "error");
  scope.removeContentTypeParser("application/json");
  scope.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    rawBodies.set(request, body as string);
    void parseJson(request, body as string, done);
  });
  scope.setErrorHandler(mcpErrorHandler(maxBodyBytes));
}

/** The JSON text of requests parsed under `mcpBodyRules`. */
const rawBodies = new WeakMap<FastifyRequest, string>();

/**
 * The body of a request to an MCP scope exactly as it came (`JSON.stringify` of the parsed body
 * otherwise). A proxy forwards this: written out again, JSON can grow (`1e20` becomes
 * `100000000000000000000`) past a limit the original met.
 */
export function rawBodyOf(request: FastifyRequest): string {
  return rawBodies.get(request) ?? JSON.stringify(request.body);
}

/**
 * Error handler for MCP routes: a body that is not JSON is a JSON-RPC parse error (400), an
 * oversized one is refused with 413, and anything else is an internal error without internals.
 * Fastify's JSON parser also refuses `__proto__` and `constructor.prototype` keys (prototype
 * pollution) with the same error as broken JSON, so the parse error names both causes.
 */
export function mcpErrorHandler(maxBodyBytes: number) {
  return (
    error: FastifyError,
    request: FastifyRequest,
    reply: FastifyReply,
  ): FastifyReply | Promise<FastifyReply> => {
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE" || error.statusCode === 413) {
      return afterUpload(request, reply, maxBodyBytes, () =>
        sendJsonRpcError(
          reply,
          413,
          JSONRPC_ERROR.invalidRequest,
          `Request body exceeds ${maxBodyBytes} bytes`,
        ),
      );
    }
    if (error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      return sendJsonRpcError(
        reply,
        415,
        JSONRPC_ERROR.invalidRequest,
        "Content-Type must be application/json",
      );
    }
    if (
      error instanceof SyntaxError ||
      error.code === "FST_ERR_CTP_EMPTY_JSON_BODY" ||
      error.statusCode === 400
    ) {
      return sendJsonRpcError(reply, 400, JSONRPC_ERROR.parseError, PARSE_ERROR_MESSAGE);
    }
    request.log.error({ reqId: request.id, err: error }, "MCP request failed");
    return sendJsonRpcError(reply, 500, JSONRPC_ERROR.internalError, "Internal error");
  };
}
