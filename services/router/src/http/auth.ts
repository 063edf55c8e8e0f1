/**
 * Optional bearer-token authentication of the MCP endpoints (`ROUTER_AUTH_TOKENS`), and the
 * OAuth protected-resource metadata clients such as Cursor probe for (RFC 9728).
 *
 * A request without a valid `Authorization: Bearer <token>` gets 401 with a `WWW-Authenticate`
 * challenge naming the metadata document. Tokens are compared as SHA-256 digests in constant
 * time. The client's `Authorization` header is never forwarded upstream: the router's own
 * upstream sessions carry none, and passthrough copies an allow-list of headers only.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { JSONRPC_ERROR, sendJsonRpcError } from "@mcp-platform/shared";

/** Path of the protected-resource metadata (RFC 9728 §3). */
export const PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource";

const digestOf = (text: string): Buffer => createHash("sha256").update(text).digest();

/** The base URL a client used to reach the router (HAProxy passes Host through). */
export function publicBase(request: FastifyRequest): string {
  const forwarded = request.headers["x-forwarded-proto"];
  const proto = typeof forwarded === "string" && /^https?$/.test(forwarded) ? forwarded : request.protocol;
  return `${proto}://${request.headers.host ?? "localhost"}`;
}

/** Checks bearer tokens against the configured set. */
export class BearerAuth {
  private readonly digests: readonly Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = tokens.map(digestOf);
  }

  /** Whether any token is configured. */
  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Whether an `Authorization` header value carries a configured token. */
  accepts(header: string | undefined): boolean {
    if (!this.enabled) return true;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
    if (match?.[1] === undefined) return false;
    const given = digestOf(match[1]);
    // Compare against every token so the time taken does not tell which one matched.
    let ok = false;
    for (const digest of this.digests) ok = timingSafeEqual(given, digest) || ok;
    return ok;
  }

  /**
   * An `onRequest` hook answering 401 with a challenge when the token is missing or unknown. The
   * protected-resource metadata is open: it is what a client reads to learn how to authenticate.
   */
  hook(): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
    return async (request, reply) => {
      if (this.accepts(request.headers.authorization)) return;
      if (request.routeOptions.url?.startsWith(PROTECTED_RESOURCE_PATH) === true) return;
      const given = request.headers.authorization !== undefined;
      const metadata = `${publicBase(request)}${PROTECTED_RESOURCE_PATH}`;
      void reply.header(
        "www-authenticate",
        given
          ? `Bearer realm="mcp-platform", error="invalid_token", resource_metadata="${metadata}"`
          : `Bearer realm="mcp-platform", resource_metadata="${metadata}"`,
      );
      await sendJsonRpcError(
        reply,
        401,
        JSONRPC_ERROR.refused,
        given ? "Unauthorized: the bearer token is not valid" : "Unauthorized: a bearer token is required",
      );
    };
  }
}

/**
 * The metadata routes: with tokens configured, the protected resource is the gateway and tokens
 * are presented in the header (issued out of band, so no authorization server is listed); with
 * none, the router is not a protected resource and says so with 404, which tells clients to go
 * ahead without OAuth.
 */
export function protectedResourceRoutes(app: FastifyInstance, auth: BearerAuth): void {
  const answer = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!auth.enabled) {
      return reply
        .code(404)
        .send({ error: "not_found", error_description: "this router requires no authorization" });
    }
    const base = publicBase(request);
    return reply.header("cache-control", "no-store").send({
      resource: `${base}/mcp`,
      resource_name: "MCP Platform gateway",
      bearer_methods_supported: ["header"],
    });
  };
  app.get(PROTECTED_RESOURCE_PATH, answer);
  app.get(`${PROTECTED_RESOURCE_PATH}/*`, answer);
}
