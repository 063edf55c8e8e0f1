/**
 * The merged catalog's MCP methods, shared by both client transports. The router answers
 * `initialize`, `ping` and the list methods itself from this replica's catalog, and forwards
 * `tools/call`, `prompts/get`, `resources/read` and `completion/complete` to the owning service
 * through the router's own upstream sessions, with the client's progress token and cancellation
 * carried across.
 *
 * Requests are validated with the SDK's request schemas; failures are JSON-RPC errors, never
 * thrown: `handle` always resolves with the response to send.
 */
import type {
  InitializeResult,
  JSONRPCErrorResponse,
  JSONRPCNotification,
  JSONRPCRequest,
  JSONRPCResultResponse,
  Progress,
  Result,
} from "@modelcontextprotocol/sdk/types.js";
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  InitializeRequestSchema,
  LATEST_PROTOCOL_VERSION,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "@mcp-platform/shared";
import type { Catalog } from "../catalog/catalog";
import { resourceOwner } from "../catalog/merge";
import type { Upstreams } from "../upstream/upstreams";

/** MCP's error code for an unknown resource. */
export const RESOURCE_NOT_FOUND = -32002;

/** Methods answered by forwarding to a service: their responses may stream progress. */
export const FORWARDED_METHODS: ReadonlySet<string> = new Set([
  "tools/call",
  "prompts/get",
  "resources/read",
  "completion/complete",
]);

/** The router's `serverInfo`. */
export const GATEWAY_SERVER_INFO = { name: "mcp-platform-router", version: "0.1.0" } as const;

/** What the merged catalog offers: lists that change, no subscriptions. */
export const GATEWAY_CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { listChanged: true },
  completions: {},
} as const;

/** Told to clients in `initialize`. */
const INSTRUCTIONS =
  "Tools and prompts of every MCP service on this platform, named <service>__<name>. " +
  "Resources keep their URIs.";

/** What a request's handling may use besides the request. */
export interface RequestContext {
  /** Aborts when the client cancels the request. */
  readonly signal: AbortSignal;
  /** Sends a notification about this request (progress) to the client. */
  readonly notify: (notification: JSONRPCNotification) => void;
}

/** Options of `GatewayHandler`. */
export interface GatewayHandlerOptions {
  readonly catalog: Catalog;
  readonly upstreams: Upstreams;
  readonly logger: Logger;
  /** Timeout of a forwarded request, reset by progress. */
  readonly callTimeoutMs: number;
  /** Longest a forwarded request may take. */
  readonly callMaxMs: number;
  /** Router version for `serverInfo`. */
  readonly version: string;
}

/** The protocol version to answer with: the client's when supported, else the latest. */
export function negotiateVersion(requested: string): string {
  return SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
}

/** An error as a JSON-RPC error object; SDK errors lose the "MCP error <code>: " prefix. */
export function errorObject(error: unknown): JSONRPCErrorResponse["error"] {
  if (error instanceof McpError) {
    const prefix = `MCP error ${error.code}: `;
    const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    return error.data === undefined
      ? { code: error.code, message }
      : { code: error.code, message, data: error.data };
  }
  return { code: ErrorCode.InternalError, message: "Internal error" };
}

/** The merged catalog's request handling. */
export class GatewayHandler {
  constructor(private readonly options: GatewayHandlerOptions) {}

  /** The `initialize` result for a request's params; throws `McpError` on invalid params. */
  initialize(request: JSONRPCRequest): InitializeResult {
    const parsed = InitializeRequestSchema.safeParse(request);
    if (!parsed.success) throw new McpError(ErrorCode.InvalidParams, "Invalid initialize params");
    return {
      protocolVersion: negotiateVersion(parsed.data.params.protocolVersion),
      capabilities: GATEWAY_CAPABILITIES,
      serverInfo: { ...GATEWAY_SERVER_INFO, version: this.options.version },
      instructions: INSTRUCTIONS,
    };
  }

  /** Answers one request (never `initialize`, which opens a session and is the caller's). */
  async handle(
    request: JSONRPCRequest,
    context: RequestContext,
  ): Promise<JSONRPCResultResponse | JSONRPCErrorResponse> {
    try {
      const result = await this.dispatch(request, context);
      return { jsonrpc: "2.0", id: request.id, result };
    } catch (error) {
      if (!(error instanceof McpError)) {
        this.options.logger.error({ err: error, method: request.method }, "request failed");
      }
      return { jsonrpc: "2.0", id: request.id, error: errorObject(error) };
    }
  }

  private async dispatch(request: JSONRPCRequest, context: RequestContext): Promise<Result> {
    const catalog = this.options.catalog.current;
    switch (request.method) {
      case "ping":
        return {};
      case "logging/setLevel":
        // Accepted and ignored (the gateway sends no log messages), once its level is valid.
        parse(SetLevelRequestSchema, request);
        return {};
      case "tools/list":
        return { tools: catalog.tools };
      case "prompts/list":
        return { prompts: catalog.prompts };
      case "resources/list":
        return { resources: catalog.resources };
      case "resources/templates/list":
        return { resourceTemplates: catalog.resourceTemplates };
      case "tools/call": {
        const { params } = parse(CallToolRequestSchema, request);
        const route = catalog.toolRoutes.get(params.name);
        if (route === undefined)
          throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${shown(params.name)}`);
        return this.forward(route.service, request, { ...paramsOf(request), name: route.name }, context);
      }
      case "prompts/get": {
        const { params } = parse(GetPromptRequestSchema, request);
        const route = catalog.promptRoutes.get(params.name);
        if (route === undefined)
          throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${shown(params.name)}`);
        return this.forward(route.service, request, { ...paramsOf(request), name: route.name }, context);
      }
      case "resources/read": {
        const { params } = parse(ReadResourceRequestSchema, request);
        const service = resourceOwner(catalog, params.uri);
        if (service === undefined) {
          throw new McpError(RESOURCE_NOT_FOUND, "Resource not found", { uri: params.uri });
        }
        return this.forward(service, request, paramsOf(request), context);
      }
      case "completion/complete": {
        const { params } = parse(CompleteRequestSchema, request);
        const ref = params.ref;
        if (ref.type === "ref/prompt") {
          const route = catalog.promptRoutes.get(ref.name);
          if (route === undefined)
            throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${shown(ref.name)}`);
          return this.forward(
            route.service,
            request,
            { ...paramsOf(request), ref: { ...ref, name: route.name } },
            context,
          );
        }
        const owner = catalog.templateRoutes.find((t) => t.template === ref.uri)?.service;
        if (owner === undefined)
          throw new McpError(RESOURCE_NOT_FOUND, "Resource not found", { uri: ref.uri });
        return this.forward(owner, request, paramsOf(request), context);
      }
      case "initialize":
        throw new McpError(ErrorCode.InvalidRequest, "The session is already initialized");
      default:
        throw new McpError(ErrorCode.MethodNotFound, `Method not found: ${shown(request.method)}`);
    }
  }

  /** Forwards to `service` with the client's progress token mapped onto the router's own. */
  private forward(
    service: string,
    request: JSONRPCRequest,
    params: Record<string, unknown>,
    context: RequestContext,
  ): Promise<Result> {
    const token = (params._meta as { progressToken?: unknown } | undefined)?.progressToken;
    const onprogress =
      typeof token === "string" || typeof token === "number"
        ? (progress: Progress) =>
            context.notify({
              jsonrpc: "2.0",
              method: "notifications/progress",
              params: { ...progress, progressToken: token },
            })
        : undefined;
    return this.options.upstreams.forward(
      service,
      { method: request.method, params },
      {
        signal: context.signal,
        timeout: this.options.callTimeoutMs,
        resetTimeoutOnProgress: true,
        maxTotalTimeout: this.options.callMaxMs,
        ...(onprogress === undefined ? {} : { onprogress }),
      },
    );
  }
}

/** Longest client-supplied name an error message repeats. */
const MAX_SHOWN_NAME = 100;

/** A client-supplied name as an error message repeats it: cut at `MAX_SHOWN_NAME`. */
function shown(name: string): string {
  return name.length > MAX_SHOWN_NAME ? `${name.slice(0, MAX_SHOWN_NAME)}…` : name;
}

/** The request's params as sent (validation aside, the router forwards them untouched). */
function paramsOf(request: JSONRPCRequest): Record<string, unknown> {
  return { ...(request.params as Record<string, unknown> | undefined) };
}

/** Parses a request with an SDK schema, or throws InvalidParams. */
function parse<T>(
  schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } },
  request: JSONRPCRequest,
): T {
  const parsed = schema.safeParse(request);
  if (!parsed.success) throw new McpError(ErrorCode.InvalidParams, `Invalid params for ${request.method}`);
  return parsed.data;
}
