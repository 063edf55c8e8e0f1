/**
 * The router's environment (DESIGN.md "How a service is started", router table), validated at
 * boot. Discovery, sessions and auth that use these values come in later issues; for now they
 * are parsed, so a bad deployment fails at start, and summarised in `/info`.
 */
import {
  commaListField,
  commonEnvSchema,
  httpUrlField,
  jsonField,
  mcpTransportEnvShape,
  serviceIdField,
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

/** A bearer token from `ROUTER_AUTH_TOKENS`: long enough to resist guessing, no whitespace. */
const authTokenField = () =>
  z
    .string()
    .min(16, { error: "tokens must be at least 16 characters" })
    .regex(/^\S+$/, { error: "tokens must not contain whitespace" });

/** Every variable the router reads. */
export const RouterEnvSchema = commonEnvSchema({ port: ROUTER_DEFAULT_PORT, serviceName: "router" }).extend({
  /** Static discovery, used instead of (or besides) Consul. */
  ROUTER_STATIC_SERVICES: jsonField(StaticServicesSchema).optional(),
  /** Secret from which session ids are sealed (AES-GCM); required once sessions are sealed. */
  ROUTER_SESSION_KEY: z.string().min(32, { error: "must be at least 32 characters" }).optional(),
  /** Bearer tokens clients must present; when unset the router does not require one. */
  ROUTER_AUTH_TOKENS: commaListField(authTokenField())
    .refine((tokens) => tokens.length > 0, { error: "must list at least one token when set" })
    .optional(),
  ...mcpTransportEnvShape,
});

/** The router's validated environment. */
export type RouterEnv = z.infer<typeof RouterEnvSchema>;
