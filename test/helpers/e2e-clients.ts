/**
 * What the e2e tests do to a launched platform (scripts/local/launcher.ts): official SDK clients
 * through the gateway, raw HTTP with any header, router metrics, and bounded call loops that
 * record, for fault tests, whether each call started before or after the fault.
 */
import { request } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { LaunchOptions, RunningProcess } from "../../scripts/local/launcher";
import { SessionSealer } from "../../services/router/src/session-token";

/**
 * The platform the e2e acceptance runs on: real HAProxy (round-robin) → 3 router replicas → the
 * bridged server-everything and server-memory, 2 mcp-server instances each, on random ports.
 */
export const E2E_PLATFORM = {
  routers: 3,
  services: ["everything", "memory"],
  instances: 2,
  // The acceptance runs server-memory on 2 instances too; each keeps its own graph.
  replicateSingletons: true,
  monitor: false,
  ports: "random",
} as const satisfies LaunchOptions;

/** Headers with a bearer token, when one is given. */
export function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** An SDK client over Streamable HTTP at `url` (a `/mcp` endpoint). */
export async function streamableClient(url: string, token?: string): Promise<Client> {
  const client = new Client({ name: "e2e-streamable", version: "1.0.0" });
  await connectOrClose(
    client,
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: bearer(token) } }),
  );
  return client;
}

/**
 * Connects `client`; when that fails, closes it before rethrowing, so that nothing it started
 * (an SSE client's event source) outlives the failed test and keeps Jest from exiting.
 */
async function connectOrClose(client: Client, transport: Transport): Promise<void> {
  try {
    await client.connect(transport);
  } catch (error) {
    await client.close().catch(() => undefined);
    throw error;
  }
}

/** An SDK client over legacy SSE at `url` (a `/sse` endpoint). */
export async function sseClient(url: string, token?: string): Promise<Client> {
  const client = new Client({ name: "e2e-sse", version: "1.0.0" });
  const headers = bearer(token);
  await connectOrClose(
    client,
    new SSEClientTransport(new URL(url), {
      requestInit: { headers },
      eventSourceInit: {
        fetch: (input, init) => {
          const merged = new Headers(init?.headers);
          for (const [name, value] of Object.entries(headers)) merged.set(name, value);
          return fetch(input, { ...init, headers: merged });
        },
      },
    }),
  );
  return client;
}

/** The text of the first content item of a tool result. */
export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content[0]?.text ?? "";
}

/** A raw HTTP answer. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

/** One HTTP request over a fresh connection (node:http, so any `Host`/`Origin` can be sent). */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? "GET", agent: false, headers: options.headers },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Headers of a JSON-RPC POST to `/mcp`. */
export const MCP_POST_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
} as const;

/** The JSON-RPC message in a JSON or single-event SSE body. */
export function messageOf(answer: RawAnswer): Record<string, unknown> {
  const type = String(answer.headers["content-type"] ?? "");
  if (type.startsWith("text/event-stream")) {
    const line = answer.text.split("\n").find((l) => l.startsWith("data: "));
    return JSON.parse(line?.slice(6) ?? "null") as Record<string, unknown>;
  }
  return JSON.parse(answer.text) as Record<string, unknown>;
}

/** Sum of a metric's samples on one process's `/metrics` whose labels include `labels`. */
export async function metricSum(
  proc: RunningProcess,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${proc.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const matches = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (matches) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** The replica (base URL) holding a legacy SSE session's stream, from its sealed endpoint. */
export function sseOwner(sessionKey: string, endpoint: URL): string {
  const token = endpoint.searchParams.get("s") ?? "";
  const payload = new SessionSealer({ secret: sessionKey, ttlSeconds: 3600 }).open(token);
  if (payload?.t !== "sse") throw new Error(`not an SSE session endpoint: ${endpoint.href}`);
  return payload.o;
}

/**
 * When a call started relative to a fault: `before` it began, `during` it (a killed process dies
 * and its sockets close a moment after the signal), or `after` it completed (the process has
 * exited, or the drain has begun).
 */
export type Phase = "before" | "during" | "after";

/** How one call of a loop went. */
export interface CallRecord {
  readonly index: number;
  readonly phase: Phase;
  readonly ok: boolean;
  readonly error?: string;
}

/**
 * Runs `total` calls, `concurrency` at a time, through `call`; `fault` runs once, when `faultAt`
 * calls have completed, while the other workers keep calling. Returns every call's record.
 */
export async function callLoop(options: {
  total: number;
  concurrency: number;
  call: (index: number) => Promise<void>;
  faultAt?: number;
  fault?: () => Promise<void>;
}): Promise<CallRecord[]> {
  const records: CallRecord[] = [];
  let next = 0;
  let completed = 0;
  let phase: Phase = "before";
  let faultDone: Promise<void> = Promise.resolve();
  const worker = async () => {
    while (next < options.total) {
      const index = next++;
      const started = phase;
      try {
        await options.call(index);
        records.push({ index, phase: started, ok: true });
      } catch (error) {
        records.push({
          index,
          phase: started,
          ok: false,
          error: error instanceof Error ? error.message : String(error),
        });
      }
      completed++;
      if (phase === "before" && options.fault !== undefined && completed >= (options.faultAt ?? 0)) {
        phase = "during";
        faultDone = options.fault().then(() => {
          phase = "after";
        });
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  await faultDone;
  return records.sort((a, b) => a.index - b.index);
}
