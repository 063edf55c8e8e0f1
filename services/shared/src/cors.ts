/**
 * CORS for the MCP endpoints of the router and the mcp-server, so a page on an allowed origin (a
 * web client, the MCP Inspector connecting directly) can use them from a browser: the origins
 * are the ones the request guard admits (`MCP_ALLOWED_ORIGINS`, or loopback origins when none is
 * configured). Other origins get no CORS headers (and the guard's 403), so a browser keeps their
 * pages out. Requests without `Origin` (Cursor, Claude Code, scripts) are untouched.
 *
 * Preflights are answered by `@fastify/cors` in its hook, before any hook that would refuse them
 * for lacking what a browser leaves out of a preflight (the bearer token). Responses the MCP
 * routes write themselves (`takeOver`) carry the CORS headers too.
 */
import type { ServerResponse } from "node:http";
import cors from "@fastify/cors";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { RequestGuard } from "./request-guard";

/** Request headers a browser MCP client sends beyond the simple ones. */
export const CORS_ALLOWED_HEADERS: readonly string[] = [
  "content-type",
  "accept",
  "authorization",
  "mcp-session-id",
  "mcp-protocol-version",
  "last-event-id",
];

/** Response headers a browser MCP client must read: its session id, and where to authenticate. */
export const CORS_EXPOSED_HEADERS: readonly string[] = ["mcp-session-id", "www-authenticate"];

/** How long a browser may cache a preflight answer, in seconds. */
export const CORS_MAX_AGE_S = 600;

/**
 * Registers CORS on `scope` for the origins `guard` admits. Register it before the scope's own
 * hooks, so a preflight is answered before they run.
 */
export async function mcpCors(scope: FastifyInstance, guard: RequestGuard): Promise<void> {
  await scope.register(cors, {
    origin: (origin, callback) => callback(null, origin !== undefined && guard.allowsOrigin(origin)),
    methods: ["GET", "POST", "DELETE"],
    allowedHeaders: [...CORS_ALLOWED_HEADERS],
    exposedHeaders: [...CORS_EXPOSED_HEADERS],
    maxAge: CORS_MAX_AGE_S,
  });
}

/**
 * Takes the response over from fastify (`reply.hijack()`) and returns it, keeping the headers
 * hooks set on the reply for a browser (CORS): fastify writes those only when it sends the reply
 * itself. A request without `Origin` needs none of them, and its response keeps Node's quicker
 * `writeHead` (headers set beforehand make Node set every header of `writeHead` one by one).
 */
export function takeOver(reply: FastifyReply): ServerResponse {
  if (reply.request.headers.origin !== undefined) {
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) reply.raw.setHeader(name, value);
    }
  }
  reply.hijack();
  return reply.raw;
}
