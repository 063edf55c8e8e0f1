/**
 * The `fetch` the router's upstream sessions use: the SDK's client transport speaks the WHATWG
 * fetch API, served here by undici's `request` over one keep-alive connection pool. The global
 * `fetch` builds a full fetch-spec request and response per call, which cost the router about as
 * much CPU as everything else it does on a forwarded call (measured: 640 → 1,180 calls/s on one
 * replica); the SDK still gets a standard `Response` whose body streams.
 */
import { Readable } from "node:stream";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import { Agent, request } from "undici";

/** Keep-alive connections to every instance, shared by all upstream sessions of the replica. */
const dispatcher = new Agent({ keepAliveTimeout: 30_000 });

/** Statuses whose response has no body. */
const NO_BODY: ReadonlySet<number> = new Set([202, 204, 205, 304]);

/** `fetch` over undici's `request`; connection errors keep their `code` (see `failedBeforeSending`). */
export const upstreamFetch: FetchLike = async (url, init) => {
  const headers: Record<string, string> = {};
  new Headers(init?.headers).forEach((value, name) => {
    headers[name] = value;
  });
  const method = (init?.method ?? "GET").toUpperCase() as "GET" | "POST" | "DELETE";
  const response = await request(url, {
    method,
    headers,
    body: typeof init?.body === "string" ? init.body : undefined,
    signal: init?.signal ?? undefined,
    dispatcher,
  });
  const out = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    if (typeof value === "string") out.set(name, value);
    else if (Array.isArray(value)) for (const item of value) out.append(name, item);
  }
  if (NO_BODY.has(response.statusCode)) {
    response.body.resume();
    return new Response(null, { status: response.statusCode, headers: out });
  }
  return new Response(Readable.toWeb(response.body) as ReadableStream<Uint8Array>, {
    status: response.statusCode,
    headers: out,
  });
};
