/**
 * The router app in this process for tests: built with a given environment, listening on
 * 127.0.0.1, with its log lines parsed and awaitable (so tests wait for "catalog ready" instead
 * of sleeping), plus a raw SSE reader for its streams.
 */
import { EventEmitter, once } from "node:events";
import { request } from "node:http";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import type { Logger } from "@mcp-platform/shared";
import { createLogger, loadEnv } from "@mcp-platform/shared";
import type { RouterOverrides } from "../../services/router/src/app";
import { buildApp } from "../../services/router/src/app";
import { RouterEnvSchema } from "../../services/router/src/env";

/** The session key the test routers share. */
export const TEST_SESSION_KEY = "router-test-key-router-test-key-0123456789";

/** A router app listening on 127.0.0.1. */
export interface TestRouter {
  readonly app: FastifyInstance;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly lines: Record<string, unknown>[];
  /** Resolves with the first log line (seen or to come) matching `predicate`. */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/** A logger whose lines are kept, parsed, and can be awaited. */
export function awaitableLogger(): {
  logger: Logger;
  lines: Record<string, unknown>[];
  waitForLog: (predicate: (line: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
} {
  const lines: Record<string, unknown>[] = [];
  const events = new EventEmitter<{ line: [Record<string, unknown>] }>();
  const logger = createLogger({
    service: "router",
    level: "info",
    destination: {
      write: (text: string) => {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        events.emit("line", line);
      },
    },
  });
  const waitForLog = async (predicate: (line: Record<string, unknown>) => boolean) => {
    // Scans every line by index: lines logged in one turn (one right after another) are all seen,
    // though only the first of them wakes the wait.
    for (let next = 0; ;) {
      for (; next < lines.length; next++) if (predicate(lines[next]!)) return lines[next]!;
      await once(events, "line");
    }
  };
  return { logger, lines, waitForLog };
}

/** Builds and starts a router; resolves once its catalog is ready. */
export async function startRouter(
  env: Record<string, string>,
  overrides: RouterOverrides = {},
): Promise<TestRouter> {
  const parsed = loadEnv(RouterEnvSchema, {
    HOST: "127.0.0.1",
    PORT: "0",
    ROUTER_SESSION_KEY: TEST_SESSION_KEY,
    ROUTER_DRAIN_QUIET_MS: "0",
    ...env,
  });
  const { logger, lines, waitForLog } = awaitableLogger();
  const app = buildApp({ env: parsed, logger, version: "0.1.0" }, overrides);
  await app.listen({ host: "127.0.0.1", port: parsed.PORT });
  await waitForLog((l) => l.msg === "catalog ready");
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, lines, waitForLog };
}

/** An open SSE response whose events (`event`/`data` pairs) are collected as they arrive. */
export interface SseReader {
  readonly status: number;
  readonly headers: IncomingMessage["headers"];
  readonly events: { event: string; data: string }[];
  /** Resolves with the first event (seen or to come) matching `predicate`; rejects if the stream ends first. */
  next(predicate: (e: { event: string; data: string }) => boolean): Promise<{ event: string; data: string }>;
  /** Resolves when the stream ends. */
  readonly ended: Promise<void>;
  close(): void;
}

/** Opens a GET (or POST with `body`) and reads its SSE events. */
export function openSse(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<SseReader> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? "GET", agent: false, headers: options.headers },
      (res) => {
        const events: { event: string; data: string }[] = [];
        const emitter = new EventEmitter<{ event: [{ event: string; data: string }] }>();
        let buffer = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffer += chunk;
          let cut: number;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let event = "message";
            const data: string[] = [];
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) event = line.slice(7);
              else if (line.startsWith("data: ")) data.push(line.slice(6));
            }
            if (data.length === 0) continue;
            const parsed = { event, data: data.join("\n") };
            events.push(parsed);
            emitter.emit("event", parsed);
          }
        });
        const ended = new Promise<void>((done) => res.once("close", () => done()));
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          events,
          ended,
          close: () => req.destroy(),
          next: async (predicate) => {
            const seen = events.find(predicate);
            if (seen !== undefined) return seen;
            return new Promise((found, fail) => {
              const listener = (e: { event: string; data: string }) => {
                if (!predicate(e)) return;
                emitter.off("event", listener);
                found(e);
              };
              emitter.on("event", listener);
              void ended.then(() => fail(new Error(`the stream ended; events: ${JSON.stringify(events)}`)));
            });
          },
        });
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}
