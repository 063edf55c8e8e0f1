/**
 * A gateway-owned upstream session: one SDK `Client` per router replica per mcp-server instance,
 * connected lazily on first use, shared by every call this replica sends there (the SDK client
 * multiplexes requests by id), and re-created when the instance no longer knows it (the
 * instance restarted or expired it: HTTP 404).
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { RequestOptions } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { Result, ServerCapabilities } from "@modelcontextprotocol/sdk/types.js";
import {
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResultSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "@mcp-platform/shared";
import { errorText, redactUrl } from "@mcp-platform/shared";
import { forgetOrigin } from "./upstream-fetch";
import { SessionExpiredError, UpstreamTransport } from "./upstream-transport";

/** Which list an upstream said changed. */
export type ListKind = "tools" | "prompts" | "resources";

/** How the router introduces itself upstream. */
export const UPSTREAM_CLIENT_INFO = { name: "mcp-platform-router", version: "0.1.0" } as const;

/** Timeout of `initialize` towards an instance. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Options of `UpstreamSession`. */
export interface UpstreamSessionOptions {
  /** The instance's `/mcp` URL. */
  readonly url: string;
  readonly logger: Logger;
  /** The instance announced that one of its lists changed. */
  readonly onListChanged: (kind: ListKind) => void;
}

/** A request as the router forwards it. */
export interface UpstreamRequest {
  readonly method: string;
  readonly params?: Record<string, unknown>;
}

/** The router's session with one instance. */
export class UpstreamSession {
  private client: Promise<Client> | undefined;
  /** The client `client` resolved to, so a stale reset cannot drop its successor. */
  private current: Client | undefined;
  private closed = false;

  constructor(private readonly options: UpstreamSessionOptions) {}

  /** The instance's `/mcp` URL. */
  get url(): string {
    return this.options.url;
  }

  /** What the instance declared in `initialize`, once connected. */
  async capabilities(): Promise<ServerCapabilities> {
    return (await this.connected()).getServerCapabilities() ?? {};
  }

  /**
   * Sends `request` and resolves with the instance's result, whatever its shape (the router is a
   * proxy: the client validates). A lost session is re-created and the request sent once more:
   * the instance refused it unprocessed.
   */
  async request(request: UpstreamRequest, options: RequestOptions = {}): Promise<Result> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.connected();
      try {
        return await client.request(request as never, ResultSchema, options);
      } catch (error) {
        if (!(error instanceof SessionExpiredError) || attempt > 1) throw error;
        this.reset(client, "the instance no longer knows the session");
      }
    }
  }

  /** Pings the instance over this session (probes of ejected instances). */
  async ping(timeoutMs: number): Promise<void> {
    await this.request({ method: "ping" }, { timeout: timeoutMs });
  }

  /** Closes the session, ends it upstream (best effort) and drops the instance's connections. */
  async close(): Promise<void> {
    this.closed = true;
    const pending = this.client;
    this.client = undefined;
    const client = await pending?.catch(() => undefined);
    if (client !== undefined) {
      const transport = client.transport as UpstreamTransport | undefined;
      await transport?.terminate();
      await client.close().catch(() => undefined);
    }
    forgetOrigin(this.options.url);
  }

  private connected(): Promise<Client> {
    if (this.closed) return Promise.reject(new Error("upstream session closed"));
    this.client ??= this.connect();
    return this.client;
  }

  private async connect(): Promise<Client> {
    const client = new Client(UPSTREAM_CLIENT_INFO, { capabilities: {} });
    const log = this.options.logger;
    client.onerror = (error) =>
      log.debug({ instance: redactUrl(this.options.url), err: errorText(error) }, "upstream session error");
    client.setNotificationHandler(ToolListChangedNotificationSchema, () =>
      this.options.onListChanged("tools"),
    );
    client.setNotificationHandler(PromptListChangedNotificationSchema, () =>
      this.options.onListChanged("prompts"),
    );
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () =>
      this.options.onListChanged("resources"),
    );
    try {
      await client.connect(new UpstreamTransport(new URL(this.options.url)), { timeout: CONNECT_TIMEOUT_MS });
    } catch (error) {
      this.client = undefined;
      await client.close().catch(() => undefined);
      throw error;
    }
    log.debug({ instance: redactUrl(this.options.url) }, "upstream session opened");
    this.current = client;
    return client;
  }

  private reset(client: Client, why: string): void {
    this.options.logger.info(
      { instance: redactUrl(this.options.url), reason: why },
      "re-creating upstream session",
    );
    if (this.current === client) {
      this.client = undefined;
      this.current = undefined;
    }
    void client.close().catch(() => undefined);
  }
}
