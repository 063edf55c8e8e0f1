/**
 * Upstreams for router tests, in this process: the real mcp-server app with its built-in tools
 * (`echo`, `progress`, `fail`) on 127.0.0.1, and a scripted fake MCP server for failures the
 * real one never shows (a call stream that ends without an answer), recording every request.
 * A `hold` call gets its progress and its answer only when the test says so, so a test of
 * timeouts needs no real delays.
 */
import { EventEmitter, once } from "node:events";
import { createServer } from "node:http";
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { loadEnv } from "@mcp-platform/shared";
import type { FastifyInstance } from "fastify";
import { buildApp as buildMcpServer } from "../../services/mcp-server/src/app";
import { McpServerEnvSchema } from "../../services/mcp-server/src/env";
import { silentLogger } from "./log-capture";

/** A built-in mcp-server listening on 127.0.0.1 (`port` 0 for any). */
export async function startBuiltinServer(
  port = 0,
  extraEnv: Record<string, string> = {},
): Promise<{ app: FastifyInstance; url: string; port: number }> {
  const env = loadEnv(McpServerEnvSchema, {
    HOST: "127.0.0.1",
    PORT: String(port),
    LOG_LEVEL: "silent",
    ...extraEnv,
  });
  const app = buildMcpServer({ env, logger: silentLogger(), version: "0.1.0" });
  await app.listen({ host: "127.0.0.1", port });
  const bound = (app.server.address() as AddressInfo).port;
  // The pool starts on listen; its in-process link is up at once, but readiness says so.
  for (let i = 0; i < 100; i++) {
    if ((await app.inject({ url: "/health/ready" })).statusCode === 200) break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { app, url: `http://127.0.0.1:${bound}/mcp`, port: bound };
}

/**
 * How the fake answers `tools/call`. `hold` keeps the call's stream open and sends on it only what
 * the test asks for (`progress`, `answer`).
 */
export type CallBehaviour =
  | "answer"
  | "answer-nested-too-deep"
  | "end-without-answer"
  | "reset-mid-stream"
  | "never-answer"
  | "hold"
  | "endless-json"
  | "endless-event"
  | "answer-held-call-first"
  | AnswerWithoutResponse;

/** HTTP answers to a call that carry no JSON-RPC response to it. */
export const ANSWERS_WITHOUT_RESPONSE = [
  "202-accepted",
  "200-empty-json",
  "200-json-notification-only",
  "200-json-another-id",
  "200-html",
] as const;
export type AnswerWithoutResponse = (typeof ANSWERS_WITHOUT_RESPONSE)[number];

/** Depth of the `answer-nested-too-deep` answer's structured content: past any recursive walk. */
export const TOO_DEEP = 10_000;

/** One request the fake received. */
export interface FakeRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

/** The JSON-RPC method of a request the fake received (none for a response, GET or DELETE). */
export function jsonRpcMethod(request: FakeRequest): string | undefined {
  const method = (request.body as { method?: unknown } | undefined)?.method;
  return typeof method === "string" ? method : undefined;
}

/** A minimal scripted MCP server over Streamable HTTP (JSON and SSE answers). */
export class FakeMcpServer {
  readonly requests: FakeRequest[] = [];
  readonly url: string;
  behaviour: CallBehaviour = "answer";
  /** How the fake answers `initialize`: with JSON, or with an SSE stream it ends unanswered. */
  initializeBehaviour: "answer" | "end-without-answer" = "answer";
  tools: { name: string; inputSchema: { type: "object" } }[] = [
    { name: "probe", inputSchema: { type: "object" } },
  ];
  /**
   * Tools per `tools/list` page, when set; a page's cursor names this fake, so another instance
   * refuses it (as instances of two versions may page differently).
   */
  pageSize: number | undefined;
  /** Open standalone GET streams (the router's sessions listen on them). */
  private readonly streams = new Set<ServerResponse>();
  private readonly streamEvents = new EventEmitter<{ opened: []; callClosed: []; request: [] }>();
  /** Call streams (`never-answer`) the router has closed. */
  callStreamsClosed = 0;
  /** Bytes written into `endless-json` and `endless-event` answers. */
  endlessBytes = 0;
  /** How the fake answers `DELETE`: at once, or never. */
  deleteBehaviour: "answer" | "hang" = "answer";
  /** The last `hold` call: its open stream, its id and its progress token, if it asked for progress. */
  private held: { res: ServerResponse; id: unknown; progressToken: unknown } | undefined;

  private constructor(private readonly server: Server) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  }

  static async start(): Promise<FakeMcpServer> {
    const slot: { fake?: FakeMcpServer } = {};
    const server = createServer((req, res) => void slot.fake?.handle(req, res));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    slot.fake = new FakeMcpServer(server);
    return slot.fake;
  }

  /** The answer to `tools/list`: every tool, or the page `cursor` names when paging. */
  private toolsPage(cursor: unknown): { result: unknown } | { error: { code: number; message: string } } {
    if (this.pageSize === undefined) return { result: { tools: this.tools } };
    const prefix = `${this.url}#`;
    const start =
      cursor === undefined
        ? 0
        : typeof cursor === "string" && cursor.startsWith(prefix)
          ? Number(cursor.slice(prefix.length))
          : NaN;
    if (!Number.isInteger(start)) return { error: { code: -32602, message: "Invalid cursor" } };
    const end = start + this.pageSize;
    const nextCursor = end < this.tools.length ? { nextCursor: `${prefix}${end}` } : {};
    return { result: { tools: this.tools.slice(start, end), ...nextCursor } };
  }

  /** Resolves once at least one standalone stream is open. */
  async streamOpen(): Promise<void> {
    if (this.streams.size === 0) await once(this.streamEvents, "opened");
  }

  /** Resolves once the router has closed a `never-answer` call stream. */
  async callStreamClosed(): Promise<void> {
    if (this.callStreamsClosed === 0) await once(this.streamEvents, "callClosed");
  }

  /**
   * Resolves once `count` requests of JSON-RPC `method` have come in and been answered as far as
   * their behaviour goes (a `hold` call is held, a `never-answer` stream is open).
   */
  async received(method: string, count = 1): Promise<void> {
    const enough = () => this.requests.filter((r) => jsonRpcMethod(r) === method).length >= count;
    await this.until(enough);
  }

  /** HTTP `DELETE`s received: sessions the router ended. */
  get sessionsDeleted(): number {
    return this.requests.filter((r) => r.method === "DELETE").length;
  }

  /** Resolves once the router has ended a session (`DELETE`). */
  async sessionDeleted(): Promise<void> {
    await this.until(() => this.sessionsDeleted > 0);
  }

  /** Resolves once `enough()` holds, checked after each request. */
  private async until(enough: () => boolean): Promise<void> {
    if (enough()) return;
    await new Promise<void>((resolve) => {
      const listener = () => {
        if (!enough()) return;
        this.streamEvents.off("request", listener);
        resolve();
      };
      this.streamEvents.on("request", listener);
    });
  }

  /** Sends `notifications/progress` for the last `hold` call (nothing once its stream is closed). */
  progress(progress: number): void {
    const held = this.heldCall();
    const params = { progressToken: held.progressToken, progress };
    this.sendEvent(held.res, { jsonrpc: "2.0", method: "notifications/progress", params });
  }

  /** Answers the last `hold` call with `text` and ends its stream. */
  answer(text: string): void {
    const held = this.heldCall();
    this.sendEvent(held.res, { jsonrpc: "2.0", id: held.id, result: { content: [{ type: "text", text }] } });
    held.res.end();
  }

  /** Sends a notification (e.g. `notifications/tools/list_changed`) on every open stream. */
  announce(method: string): void {
    for (const res of this.streams)
      res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", method })}\n\n`);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Writes `head`, then spaces for as long as the reader takes them. */
  private writeEndlessly(res: ServerResponse, head: string): void {
    res.write(head);
    const chunk = Buffer.alloc(64 * 1024, " ");
    const more = () => {
      while (!res.destroyed && res.write(chunk)) this.endlessBytes += chunk.length;
      if (!res.destroyed) res.once("drain", more);
    };
    more();
  }

  private heldCall(): NonNullable<FakeMcpServer["held"]> {
    if (this.held === undefined)
      throw new Error('no call is held: set behaviour "hold" and await received()');
    return this.held;
  }

  private sendEvent(res: ServerResponse, message: unknown): void {
    if (!res.destroyed && !res.writableEnded)
      res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let text = "";
    for await (const chunk of req) text += String(chunk);
    const body = text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>);
    this.requests.push({ method: req.method ?? "", headers: req.headers, body });
    this.respond(req, res, body);
    this.streamEvents.emit("request");
  }

  private respond(
    req: IncomingMessage,
    res: ServerResponse,
    body: Record<string, unknown> | undefined,
  ): void {
    if (req.method === "GET") {
      res.writeHead(200, { "content-type": "text/event-stream", "mcp-session-id": "fake-session" });
      res.flushHeaders();
      this.streams.add(res);
      res.on("close", () => this.streams.delete(res));
      this.streamEvents.emit("opened");
      return;
    }
    if (req.method === "DELETE") {
      if (this.deleteBehaviour === "answer") res.writeHead(200).end();
      return;
    }
    const message = body as { id?: number; method?: string };
    const json = (result: unknown, headers: Record<string, string> = {}): void => {
      res
        .writeHead(200, { "content-type": "application/json", "mcp-session-id": "fake-session", ...headers })
        .end(JSON.stringify({ jsonrpc: "2.0", id: message.id, result }));
    };
    if (message.id === undefined) return void res.writeHead(202).end();
    switch (message.method) {
      case "initialize":
        if (this.initializeBehaviour === "end-without-answer") {
          res.writeHead(200, { "content-type": "text/event-stream", "mcp-session-id": "fake-session" });
          return void res.end();
        }
        return json({
          protocolVersion: "2025-06-18",
          capabilities: { tools: { listChanged: true } },
          serverInfo: { name: "fake", version: "1" },
        });
      case "tools/list": {
        const page = this.toolsPage((body?.params as { cursor?: unknown } | undefined)?.cursor);
        if ("result" in page) return json(page.result);
        res.writeHead(200, { "content-type": "application/json", "mcp-session-id": "fake-session" });
        return void res.end(JSON.stringify({ jsonrpc: "2.0", id: message.id, error: page.error }));
      }
      case "tools/call": {
        const answerWith = (text: string, type = "application/json") =>
          void res.writeHead(200, { "content-type": type, "mcp-session-id": "fake-session" }).end(text);
        const progress = {
          jsonrpc: "2.0",
          method: "notifications/progress",
          params: { progressToken: 1, progress: 1 },
        };
        switch (this.behaviour) {
          case "202-accepted":
            return void res.writeHead(202).end();
          case "200-empty-json":
            return answerWith("");
          case "200-json-notification-only":
            return answerWith(JSON.stringify(progress));
          case "200-json-another-id":
            return answerWith(JSON.stringify({ jsonrpc: "2.0", id: "another", result: { content: [] } }));
          case "200-html":
            return answerWith("<html>fake</html>", "text/html");
          case "endless-json":
            res.writeHead(200, { "content-type": "application/json", "mcp-session-id": "fake-session" });
            return this.writeEndlessly(res, '{"jsonrpc":"2.0","id":1,"result":{"content":"');
        }
        res.writeHead(200, { "content-type": "text/event-stream", "mcp-session-id": "fake-session" });
        res.flushHeaders();
        if (this.behaviour === "end-without-answer") return void res.end();
        if (this.behaviour === "reset-mid-stream") return void res.destroy();
        if (this.behaviour === "never-answer") {
          res.once("close", () => {
            this.callStreamsClosed++;
            this.streamEvents.emit("callClosed");
          });
          return;
        }
        if (this.behaviour === "endless-event") return this.writeEndlessly(res, "event: message\ndata: ");
        if (this.behaviour === "answer-held-call-first") {
          // A stray answer, to another client's call that is still running, then this call's own.
          const stray = { jsonrpc: "2.0", id: this.heldCall().id, result: { content: [] } };
          const own = {
            jsonrpc: "2.0",
            id: message.id,
            result: { content: [{ type: "text", text: "own" }] },
          };
          return void res.end(
            `event: message\ndata: ${JSON.stringify(stray)}\n\nevent: message\ndata: ${JSON.stringify(own)}\n\n`,
          );
        }
        if (this.behaviour === "hold") {
          const meta = (body?.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta;
          this.held = { res, id: message.id, progressToken: meta?.progressToken };
          return;
        }
        if (this.behaviour === "answer-nested-too-deep") {
          // Written as text: JSON.stringify itself cannot write something this deep.
          const deep = "[".repeat(TOO_DEEP) + "]".repeat(TOO_DEEP);
          const data = `{"jsonrpc":"2.0","id":${JSON.stringify(message.id)},"result":{"content":[],"structuredContent":{"d":${deep}}}}`;
          return void res.end(`event: message\ndata: ${data}\n\n`);
        }
        const answer = {
          jsonrpc: "2.0",
          id: message.id,
          result: { content: [{ type: "text", text: "fake" }] },
        };
        return void res.end(`event: message\ndata: ${JSON.stringify(answer)}\n\n`);
      }
      default:
        return json({});
    }
  }
}
