/**
 * The `fetch` the router's upstream sessions use: the SDK's client transport speaks the WHATWG
 * fetch API, served here by undici's `request` on one keep-alive connection pool per instance.
 * The global `fetch` builds a full fetch-spec request and response per call, which cost the
 * router about as much CPU as everything else it does on a forwarded call (measured: 640 →
 * 1,180 calls/s on one replica); the SDK still gets a standard `Response`. A JSON answer (a
 * quick call) is read whole, an SSE answer streams.
 */
import { Readable } from "node:stream";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { Dispatcher } from "undici";
import { Pool } from "undici";
import { readBoundedText } from "@mcp-platform/shared";

/** How long an idle upstream connection is kept. */
const KEEP_ALIVE_MS = 30_000;

/** Keep-alive connections per instance origin, shared by all upstream sessions of the replica. */
const pools = new Map<string, Pool>();

function poolFor(origin: string): Pool {
  let pool = pools.get(origin);
  if (pool === undefined) {
    pool = new Pool(origin, { keepAliveTimeout: KEEP_ALIVE_MS });
    pools.set(origin, pool);
  }
  return pool;
}

/** Closes the pool of an instance that left (its connections would otherwise idle on). */
export function forgetOrigin(url: string): void {
  const origin = new URL(url).origin;
  const pool = pools.get(origin);
  pools.delete(origin);
  void pool?.close().catch(() => undefined);
}

/**
 * Most bytes of one answer of an instance the router reads (a JSON body, or one SSE event): a
 * generous bound for a tool's result (a file, an image), which keeps one instance answering
 * without end from filling the replica's memory.
 */
export const MAX_UPSTREAM_ANSWER_BYTES = 32 * 1024 * 1024;

/** Statuses whose response has no body. */
const NO_BODY: ReadonlySet<number> = new Set([202, 204, 205, 304]);

/** The request headers as a plain object (the SDK passes a `Headers`). */
function plainHeaders(init: RequestInit | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  const source = init?.headers instanceof Headers ? init.headers : new Headers(init?.headers);
  source.forEach((value, name) => {
    headers[name] = value;
  });
  return headers;
}

/** What `upstreamRequest` sends. */
export interface UpstreamHttpRequest {
  readonly method: "GET" | "POST" | "DELETE";
  readonly headers: Record<string, string>;
  readonly body?: string;
  readonly signal?: AbortSignal;
}

/**
 * One request to an instance over its pool, answered with undici's response (status, headers,
 * a body stream). Connection errors keep their `code` (see `failedBeforeSending`).
 */
export function upstreamRequest(url: URL, request: UpstreamHttpRequest): Promise<Dispatcher.ResponseData> {
  return poolFor(url.origin).request({
    path: url.pathname + url.search,
    method: request.method,
    headers: request.headers,
    body: request.body ?? null,
    signal: request.signal,
  });
}

/** `fetch` over `upstreamRequest`, for the SDK's client transport. */
export const upstreamFetch: FetchLike = async (url, init) => {
  const response = await upstreamRequest(typeof url === "string" ? new URL(url) : url, {
    method: (init?.method ?? "GET").toUpperCase() as UpstreamHttpRequest["method"],
    headers: plainHeaders(init),
    ...(typeof init?.body === "string" ? { body: init.body } : {}),
    ...(init?.signal ? { signal: init.signal } : {}),
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    if (typeof value === "string") headers.set(name, value);
    else if (Array.isArray(value)) for (const item of value) headers.append(name, item);
  }
  const status = response.statusCode;
  if (NO_BODY.has(status)) {
    response.body.resume();
    return new Response(null, { status, headers });
  }
  if (headers.get("content-type")?.startsWith("application/json") === true) {
    return new Response(await readBoundedText(response.body, MAX_UPSTREAM_ANSWER_BYTES), { status, headers });
  }
  return new Response(Readable.toWeb(response.body) as ReadableStream<Uint8Array>, { status, headers });
};
