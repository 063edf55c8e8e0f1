// The gateway targets of `npm run bench`: the full gateway path (HAProxy → router → mcp-server
// built-in `echo`) and straight to one router, plus each router's resident memory with 2,000
// idle sessions open. Everything runs on loopback,
// started by the same launcher as `npm run local` (scripts/local/launcher.ts); bounded in count.
//
//   node scripts/bench/gateway.mjs      (standalone; `npm run bench` calls startGateway and
//                                        idleSessionMemory)
import "../require-node.mjs";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { pathToFileURL } from "node:url";
import { loadLauncher, root } from "../local/load-launcher.mjs";
import { formatResult, runLoad } from "./load.mjs";

/** The tool the load calls: the built-in `echo` service's `echo`, as the merged catalog names it. */
const TOOL = "echo__echo";
/** Idle sessions opened for the memory figure. */
const IDLE_SESSIONS = 2000;
/** The protocol version the bench sessions negotiate. */
export const PROTOCOL = "2025-06-18";
const JSON_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

/** One POST over `agent`; resolves with status, headers and body text. */
function post(url, body, headers, agent) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", agent, headers: { ...JSON_HEADERS, ...headers } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/** Opens a session (initialize + initialized) at `mcpUrl` and returns its id. */
export async function openSession(mcpUrl, agent) {
  const init = await post(
    mcpUrl,
    {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: "bench", version: "1" } },
    },
    {},
    agent,
  );
  const session = init.headers["mcp-session-id"];
  if (init.status !== 200 || typeof session !== "string")
    throw new Error(`initialize failed: ${init.status} ${init.text}`);
  const headers = { "mcp-session-id": session, "mcp-protocol-version": PROTOCOL };
  await post(mcpUrl, { jsonrpc: "2.0", method: "notifications/initialized" }, headers, agent);
  return session;
}

/** Opens the standalone GET stream an idle SDK client keeps; resolves once its headers arrived. */
function openStream(mcpUrl, session, agent) {
  return new Promise((resolve, reject) => {
    const req = request(
      mcpUrl,
      {
        agent,
        headers: { accept: "text/event-stream", "mcp-session-id": session, "mcp-protocol-version": PROTOCOL },
      },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`GET stream answered ${res.statusCode}`));
        res.resume();
        resolve(req);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Resident memory of a process, in MiB. */
function rssMiB(pid) {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(line?.replace(/\D+/g, "") ?? 0) / 1024;
}

/**
 * Starts the gateway platform (2 routers, the built-in echo service) with one open session and
 * returns the two load targets, `haproxyPath` and `routerDirect`, each `{ url, headers, tool,
 * processes }` for `runLoad` (scripts/bench/load.mjs; `processes` names every process of the
 * platform, for the CPU breakdown), and `stop`.
 */
export async function startGateway() {
  const { platform, agent, stop } = await launch();
  try {
    const gateway = `${platform.gatewayUrl}/mcp`;
    const session = await openSession(gateway, agent);
    const headers = { "mcp-session-id": session, "mcp-protocol-version": PROTOCOL };
    const processes = Object.fromEntries(
      [platform.haproxy, ...platform.routers, ...Object.values(platform.services).flat()].map((p) => [
        p.name,
        p.pid,
      ]),
    );
    return {
      haproxyPath: { url: gateway, headers, tool: TOOL, processes },
      routerDirect: { url: `${platform.routers[0].url}/mcp`, headers, tool: TOOL, processes },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Each router's resident memory (MiB) before and with 2,000 idle sessions open, each with its
 * standalone GET stream, as an idle SDK client keeps it. On a fresh platform: after a load, V8's
 * young generation has grown (it sizes itself from the machine's memory), which would hide what
 * the sessions themselves cost.
 */
export async function idleSessionMemory() {
  return withPlatform(async (platform, agent, streams) => {
    const gateway = `${platform.gatewayUrl}/mcp`;
    const routerRssMiBBefore = platform.routers.map((r) => rssMiB(r.pid));
    for (let opened = 0; opened < IDLE_SESSIONS; opened += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, IDLE_SESSIONS - opened) }, async () =>
          openStream(gateway, await openSession(gateway, agent), agent),
        ),
      );
      streams.push(...batch);
    }
    return {
      routerRssMiBBefore,
      routerRssMiBWith2000IdleSessions: platform.routers.map((r) => rssMiB(r.pid)),
    };
  });
}

/** A fresh gateway platform (2 routers, the built-in echo service) and a keep-alive agent. */
async function launch() {
  const { launchPlatform } = await loadLauncher();
  const platform = await launchPlatform({
    root,
    routers: 2,
    services: ["echo"],
    instances: 1,
    monitor: false,
    ports: "random",
    // The load would keep a parsed log line per call of every process (HAProxy logs each one).
    keepLines: false,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const stop = async () => {
    agent.destroy();
    await platform.stop();
  };
  return { platform, agent, stop };
}

/** Runs `work` against a fresh gateway platform, then stops it. */
async function withPlatform(work) {
  const { platform, agent, stop } = await launch();
  const streams = [];
  try {
    return await work(platform, agent, streams);
  } finally {
    for (const stream of streams) stream.destroy();
    await stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const total = Number(process.env.BENCH_CALLS ?? 20000);
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
  const gateway = await startGateway();
  try {
    console.log(`${total} calls, ${concurrency} concurrent, on ${process.version}`);
    for (const name of ["haproxyPath", "routerDirect"]) {
      console.log(
        `${name.padEnd(14)} ${formatResult(await runLoad({ ...gateway[name], total, concurrency }))}`,
      );
    }
  } finally {
    await gateway.stop();
  }
  const memory = await idleSessionMemory();
  console.log(
    `router RSS with ${IDLE_SESSIONS} idle sessions: ${memory.routerRssMiBWith2000IdleSessions
      .map((mib) => `${mib.toFixed(1)} MiB`)
      .join(", ")} (before: ${memory.routerRssMiBBefore.map((mib) => `${mib.toFixed(1)} MiB`).join(", ")})`,
  );
}
