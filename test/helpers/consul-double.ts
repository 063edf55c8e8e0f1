/**
 * A test double of the Consul agent's HTTP API: a real HTTP server on 127.0.0.1:0 that records
 * every call and answers 200 (or whatever the test sets), so service processes can register and
 * deregister against it exactly as against Consul.
 */
import { EventEmitter, once } from "node:events";
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request the double received. */
export interface RecordedCall {
  readonly method: string;
  /** Path without the query string, e.g. `/v1/agent/service/register`. */
  readonly path: string;
  /** The raw query string without `?`, or "" when there was none. */
  readonly query: string;
  /** Request headers, lower-cased by Node. */
  readonly headers: IncomingMessage["headers"];
  /** The body parsed as JSON, `undefined` when empty. */
  readonly body: unknown;
}

/** What the double answers. */
export interface DoubleResponse {
  readonly status: number;
  readonly body?: string;
}

/** Decides the answer to a call; the default answers 200 with an empty body, as Consul does. */
export type Responder = (call: RecordedCall) => DoubleResponse;

const OK: Responder = () => ({ status: 200, body: "" });

/** A running Consul agent double. */
export class ConsulDouble {
  /** Every call received so far, in arrival order. */
  readonly calls: RecordedCall[] = [];
  /** Base URL, such as `http://127.0.0.1:40123`, to use as CONSUL_HTTP_ADDR. */
  readonly url: string;
  private readonly events = new EventEmitter();
  private responder: Responder = OK;

  private constructor(private readonly server: Server) {
    const address = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${address.port}`;
  }

  /** Starts a double on 127.0.0.1 with an OS-chosen port. */
  static async start(): Promise<ConsulDouble> {
    // The handler needs the double, which needs the bound server: fill the slot once bound.
    const slot: { double?: ConsulDouble } = {};
    const server = createServer((request, response) => {
      void slot.double?.handle(request, response);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    slot.double = new ConsulDouble(server);
    return slot.double;
  }

  /** Sets how later calls are answered. */
  respondWith(responder: Responder): void {
    this.responder = responder;
  }

  /**
   * Resolves with the first call (already received or still to come) that matches `predicate`.
   * Never times out by itself: jest's test timeout bounds the wait.
   */
  waitForCall(predicate: (call: RecordedCall) => boolean): Promise<RecordedCall> {
    const seen = this.calls.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const listener = (call: RecordedCall) => {
        if (!predicate(call)) return;
        this.events.off("call", listener);
        resolve(call);
      };
      this.events.on("call", listener);
    });
  }

  /** Stops the server and drops every open connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const url = new URL(request.url ?? "/", this.url);
    const call: RecordedCall = {
      method: request.method ?? "",
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      headers: request.headers,
      body: text === "" ? undefined : (JSON.parse(text) as unknown),
    };
    this.calls.push(call);
    const answer = this.responder(call);
    response.writeHead(answer.status, { "content-type": "text/plain" }).end(answer.body ?? "");
    this.events.emit("call", call);
  }
}
