/**
 * The router's fastify app: the shared operational routes, with the router's configuration
 * summarised in `/info`. The MCP gateway routes (`/mcp`, `/sse`, `/messages`,
 * `/services/<name>/mcp`) are added by later issues.
 */
import type { BuildContext } from "@mcp-platform/shared";
import { createServiceApp } from "@mcp-platform/shared";
import type { FastifyInstance } from "fastify";
import type { RouterEnv, StaticServices } from "./env";

/** The router's `/info` `config`: what it was configured with, secrets reduced to facts. */
export interface RouterInfo {
  /** `consul` when CONSUL_HTTP_ADDR is set; static services are used either way. */
  readonly discovery: "consul" | "static";
  readonly staticServices: StaticServices;
  readonly sessionKeyConfigured: boolean;
  readonly authTokenCount: number;
  readonly allowedOrigins: readonly string[];
  readonly maxBodyBytes: number;
}

/** Summarises the router's configuration without any secret value. */
export function routerInfo(env: RouterEnv): RouterInfo {
  return {
    discovery: env.CONSUL_HTTP_ADDR === undefined ? "static" : "consul",
    staticServices: env.ROUTER_STATIC_SERVICES ?? {},
    sessionKeyConfigured: env.ROUTER_SESSION_KEY !== undefined,
    authTokenCount: env.ROUTER_AUTH_TOKENS?.length ?? 0,
    allowedOrigins: env.MCP_ALLOWED_ORIGINS,
    maxBodyBytes: env.MCP_MAX_BODY_BYTES,
  };
}

/** Builds the router app; never listens (`main.ts` does, through `runService`). */
export function buildApp(options: BuildContext<RouterEnv>): FastifyInstance {
  const info = routerInfo(options.env);
  return createServiceApp(options, {
    bodyLimit: options.env.MCP_MAX_BODY_BYTES,
    details: () => ({ ...info }),
  });
}
