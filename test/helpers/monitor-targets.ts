/**
 * Real local probe targets for the network-monitor tests, all on 127.0.0.1 with OS-chosen ports:
 *
 * - `HttpTarget`: an HTTP server whose answer to each request is decided by a script (status,
 *   simulated latency, or hang), or that never answers a request to `/health?hang`. Latency is simulated by advancing the test's manual clock while
 *   answering, so the monitor measures an exact duration without anything really waiting.
 * - `McpTarget`: the same, plus a real MCP server (the SDK's, stateless Streamable HTTP) at `/mcp`.
 * - `TcpTarget`: a bare TCP listener.
 * - `refusedPort()`: a port nothing listens on.
 *
 * Each counts its requests and emits them, so tests wait for events rather than sleep, and
 * `close()` drops every connection (including hung ones).
 */
import { EventEmitter, once } from "node:events";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer as createTcpServer } from "node:net";
import type { AddressInfo, Server as TcpServer, Socket } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { ManualClock } from "./monitor-clock";

/**
 * How to answer one health request: a status after `latencyMs` on the clock, never (`hang`), or
 * 200 with the start of a body and then nothing more (`stall-body`) or a dropped connection
 * (`reset-body`).
 */
export type Answer =
  { readonly status: number; readonly latencyMs?: number } | "hang" | "stall-body" | "reset-body";

/** Decides the answer to the `n`-th health request (counting from 1). */
export type Script = (n: number) => Answer;

/** Always 200 after `latencyMs`. */
export const healthy =
  (latencyMs = 0): Script =>
  () => ({ status: 200, latencyMs });

/** 200, 503, 200, 503, … */
export const flapping: Script = (n) => ({ status: n % 2 === 1 ? 200 : 503 });

/** Never answers. */
export const hanging: Script = () => "hang";

/** One request a target received. */
export interface TargetRequest {
  readonly method: string;
  readonly path: string;
  /** The request's `Authorization` header, when it had one. */
  readonly authorization?: string;
}

/** An HTTP probe target on 127.0.0.1. */
export class HttpTarget extends EventEmitter<{ request: [TargetRequest] }> {
  /** Every request received, in arrival order. */
  readonly requests: TargetRequest[] = [];
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  private healthCount = 0;

  protected constructor(
    private readonly server: Server,
    private readonly script: Script,
    private readonly clock: ManualClock | undefined,
  ) {
    super();
    this.port = (server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  /** Starts a target whose `/health` answers as `script` says. */
  static async start(script: Script, clock?: ManualClock): Promise<HttpTarget> {
    return listen(
      (handler) => createServer(handler),
      (server) => new HttpTarget(server, script, clock),
    );
  }

  /** Health requests answered or hung so far. */
  get healthRequests(): number {
    return this.healthCount;
  }

  /** Resolves once `count` requests to `path` have arrived (already or later). */
  async waitForRequests(path: string, count: number): Promise<void> {
    while (this.requests.filter((request) => request.path === path).length < count) {
      await once(this, "request");
    }
  }

  /** Stops listening and drops every connection, hung ones included. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Handles one request; subclasses serve more paths. */
  protected handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? "/").split("?")[0] ?? "/";
    this.record(request.method ?? "", path, request.headers.authorization);
    if (path !== "/health") {
      response.writeHead(404).end();
      return;
    }
    this.healthCount++;
    // `?hang` on any health URL: that request is never answered, whatever the script says.
    const answer = (request.url ?? "").endsWith("?hang") ? "hang" : this.script(this.healthCount);
    if (answer === "hang") return;
    if (answer === "stall-body" || answer === "reset-body") {
      response.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
      response.write('{"status":');
      // Once the headers and the start of the body are on their way, drop the connection.
      if (answer === "reset-body") setImmediate(() => response.socket?.resetAndDestroy());
      return;
    }
    if (answer.latencyMs !== undefined && answer.latencyMs > 0) this.clock?.advance(answer.latencyMs);
    response.writeHead(answer.status, { "content-type": "application/json" }).end('{"status":"ok"}');
  }

  protected record(method: string, path: string, authorization?: string): void {
    const request = authorization === undefined ? { method, path } : { method, path, authorization };
    this.requests.push(request);
    this.emit("request", request);
  }

  /** The request handler bound to this instance (used by `listen`). */
  handler(): (request: IncomingMessage, response: ServerResponse) => void {
    return (request, response) => this.handle(request, response);
  }
}

/** An HTTP target that also serves a real MCP server at `/mcp`. */
export class McpTarget extends HttpTarget {
  /** The `Authorization` header of each `/mcp` request, in arrival order (undefined: none). */
  readonly authorizations: (string | undefined)[] = [];
  /** Every request's path and `Authorization` header, whatever the path, in arrival order. */
  readonly everyAuthorization: { path: string; authorization: string | undefined }[] = [];
  /** When set, `/mcp` answers 401 (as the router does) unless this bearer token is presented. */
  private bearer: string | undefined;

  /** Starts a target whose `/health` follows `script` and whose `/mcp` speaks MCP. */
  static override async start(
    script: Script,
    clock?: ManualClock,
    options: { readonly bearer?: string } = {},
  ): Promise<McpTarget> {
    const target = await listen(
      (handler) => createServer(handler),
      (server) => new McpTarget(server, script, clock),
    );
    target.bearer = options.bearer;
    return target;
  }

  protected override handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? "/").split("?")[0] ?? "/";
    this.everyAuthorization.push({ path, authorization: request.headers.authorization });
    if (path !== "/mcp") {
      super.handle(request, response);
      return;
    }
    this.record(request.method ?? "", path);
    this.authorizations.push(request.headers.authorization);
    if (this.bearer !== undefined && request.headers.authorization !== `Bearer ${this.bearer}`) {
      response.writeHead(401, { "www-authenticate": 'Bearer realm="mcp"' }).end();
      return;
    }
    if (request.method !== "POST") {
      // Stateless: no standalone SSE stream and no sessions to delete.
      response.writeHead(405, { allow: "POST" }).end();
      return;
    }
    void serveMcp(request, response);
  }
}

/** Answers one Streamable HTTP POST with a fresh stateless MCP server. */
async function serveMcp(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const server = new McpServer({ name: "monitor-test-target", version: "1.0.0" });
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  response.on("close", () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(request, response);
}

/** A bare TCP listener that accepts connections and keeps them open. */
export class TcpTarget {
  readonly port: number;
  private readonly sockets = new Set<Socket>();
  connections = 0;

  private constructor(private readonly server: TcpServer) {
    this.port = (server.address() as AddressInfo).port;
    server.on("connection", (socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
    });
  }

  static async start(): Promise<TcpTarget> {
    const server = createTcpServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    return new TcpTarget(server);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export { refusedPort } from "./refused-port";

async function listen<T extends HttpTarget>(
  create: (handler: (request: IncomingMessage, response: ServerResponse) => void) => Server,
  wrap: (server: Server) => T,
): Promise<T> {
  // The handler needs the target, which needs the bound server: fill the slot once bound.
  const slot: { target?: T } = {};
  const server = create((request, response) => slot.target?.handler()(request, response));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  slot.target = wrap(server);
  return slot.target;
}
