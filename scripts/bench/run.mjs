#!/usr/bin/env node
// `npm run bench`: tool calls per second and p50/p99 latency of the mcp-server's built-in `echo`
// over Streamable HTTP, and of a plain Node HTTP server answering the same JSON-RPC, in one run,
// with the ratio. Servers run as separate processes on 127.0.0.1; bounded in count.
import { spawn } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { benchGateway } from "./gateway.mjs";
import { runLoad } from "./load.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const TOTAL = Number(process.env.BENCH_CALLS ?? 20000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const children = [];

function start(args, env = {}) {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let buffer = "";
    child.stdout.on("data", (chunk) => {
      buffer += chunk;
      for (const line of buffer.split("\n")) {
        try {
          const j = JSON.parse(line);
          if (j.msg === "listening") resolve(j.port);
        } catch {
          // not a JSON line yet
        }
      }
    });
    child.once("exit", (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
}

async function waitReady(port) {
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined);
    if (r?.ok) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error("mcp-server never became ready");
}

/** Open a Streamable HTTP session with raw HTTP and return its id. */
async function openSession(port) {
  const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  const init = await fetch(`http://127.0.0.1:${port}/mcp`, {
    method: "POST",
    headers,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "bench", version: "1" },
      },
    }),
  });
  await init.text();
  const session = init.headers.get("mcp-session-id");
  const h = { ...headers, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" };
  await fetch(`http://127.0.0.1:${port}/mcp`, {
    method: "POST",
    headers: h,
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  });
  return session;
}

const fmt = (r) =>
  `${r.callsPerSecond.toFixed(0).padStart(7)} calls/s   p50 ${r.p50.toFixed(2).padStart(6)} ms   p99 ${r.p99.toFixed(2).padStart(6)} ms`;

try {
  const plainPort = await start([join(root, "scripts/bench/plain-server.mjs")]);
  const mcpPort = await start([join(root, "services/mcp-server/dist/main.js")], {
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_LEVEL: "info",
  });
  await waitReady(mcpPort);
  const session = await openSession(mcpPort);
  console.log(`${TOTAL} calls, ${CONCURRENCY} concurrent, on ${process.version}`);
  const plain = await runLoad({
    url: `http://127.0.0.1:${plainPort}/`,
    total: TOTAL,
    concurrency: CONCURRENCY,
  });
  console.log(`plain node http baseline       ${fmt(plain)}`);
  const mcp = await runLoad({
    url: `http://127.0.0.1:${mcpPort}/mcp`,
    headers: { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" },
    total: TOTAL,
    concurrency: CONCURRENCY,
  });
  console.log(
    `mcp-server echo (streamable)   ${fmt(mcp)}   ratio ${(mcp.callsPerSecond / plain.callsPerSecond).toFixed(2)}x (target >= 0.40x)`,
  );
  for (const c of children.splice(0)) c.kill("SIGTERM");
  // The gateway figures come from the local platform (HAProxy, routers, mcp-server) in this run.
  const gateway = await benchGateway({ total: TOTAL, concurrency: CONCURRENCY });
  const ratio = (r) => (r.callsPerSecond / plain.callsPerSecond).toFixed(2);
  console.log(
    `haproxy -> router -> echo      ${fmt(gateway.haproxyPath)}   ratio ${ratio(gateway.haproxyPath)}x (target >= 0.20x)`,
  );
  console.log(
    `router direct -> echo          ${fmt(gateway.routerDirect)}   ratio ${ratio(gateway.routerDirect)}x`,
  );
  console.log(
    `router RSS with 2000 idle sessions: ${gateway.routerRssMiBWith2000IdleSessions.map((m) => `${m.toFixed(0)} MiB`).join(", ")}`,
  );
} finally {
  for (const c of children) c.kill("SIGTERM");
}
