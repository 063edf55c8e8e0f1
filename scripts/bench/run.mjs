#!/usr/bin/env node
// `npm run bench`: tool calls per second and p50/p99 latency of the mcp-server's built-in `echo`
// over Streamable HTTP, of the gateway path (HAProxy → router → mcp-server) and of one router
// directly, each next to a plain Node HTTP server answering the same JSON-RPC in the same run,
// with the ratios; then each router's resident memory with 2,000 idle sessions.
//
// Every server runs as its own process on 127.0.0.1, all started before the first load. The
// figures are measured in ROUNDS interleaved rounds (plain, mcp-server, gateway, router, then
// again) after one uncounted warm-up round, and each is the median round: on a shared 2-core
// machine the speed of everything drifts by tens of percent over a minute, and interleaving
// keeps a slow spell from landing on one figure only. Bounded in count: (ROUNDS + 1) × 4 ×
// BENCH_CALLS calls. Under each figure, from the same median round, the CPU time of every process
// on its path (and of the load generator) divided by the round's calls: where a call's cost goes.
// Two routers behind HAProxy each show their share; their sum is the routers' cost per call. Next
// to each, the share of one core the process was busy: one near 100% bounds the figure (a Node
// process runs its JavaScript on one core), shares adding up to the cores mean the machine does.
import "../require-node.mjs";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { idleSessionMemory, openSession, PROTOCOL, startGateway } from "./gateway.mjs";
import { formatCpu } from "./cpu.mjs";
import { formatResult as fmt, runLoad } from "./load.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const TOTAL = Number(process.env.BENCH_CALLS ?? 20000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const children = [];

function start(args, env = {}) {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    // Only the "listening" line is wanted; later output is read and dropped, never buffered.
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      try {
        const j = JSON.parse(line);
        if (j.msg === "listening") resolve({ port: j.port, pid: child.pid });
      } catch {
        // not a JSON line
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

/** The median round by calls/s, with the spread of all rounds. */
function median(rounds) {
  const sorted = [...rounds].sort((a, b) => a.callsPerSecond - b.callsPerSecond);
  return {
    ...sorted[Math.floor(sorted.length / 2)],
    min: sorted[0].callsPerSecond,
    max: sorted[sorted.length - 1].callsPerSecond,
  };
}

const spread = (r) => `(rounds ${r.min.toFixed(0)}–${r.max.toFixed(0)})`;

let gateway;
try {
  const plain = await start([join(root, "scripts/bench/plain-server.mjs")]);
  const mcp = await start([join(root, "services/mcp-server/dist/main.js")], {
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_LEVEL: "info",
  });
  await waitReady(mcp.port);
  const session = await openSession(`http://127.0.0.1:${mcp.port}/mcp`);
  gateway = await startGateway();
  const targets = {
    plain: { url: `http://127.0.0.1:${plain.port}/`, processes: { server: plain.pid } },
    mcp: {
      url: `http://127.0.0.1:${mcp.port}/mcp`,
      headers: { "mcp-session-id": session, "mcp-protocol-version": PROTOCOL },
      processes: { "mcp-server": mcp.pid },
    },
    haproxyPath: gateway.haproxyPath,
    routerDirect: gateway.routerDirect,
  };
  console.log(
    `${TOTAL} calls per figure and round, ${CONCURRENCY} concurrent, ${ROUNDS} rounds, on ${process.version}`,
  );
  const rounds = Object.fromEntries(Object.keys(targets).map((name) => [name, []]));
  // Round 0 only warms every path up (JIT, heaps, connection pools) and is not counted.
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [name, target] of Object.entries(targets)) {
      const result = await runLoad({ ...target, total: TOTAL, concurrency: CONCURRENCY });
      if (round > 0) rounds[name].push(result);
    }
  }
  const r = Object.fromEntries(Object.entries(rounds).map(([name, list]) => [name, median(list)]));
  const ratio = (x) => (x.callsPerSecond / r.plain.callsPerSecond).toFixed(2);
  const cpu = (x) => {
    if (x.cpuPerCall !== undefined) {
      console.log(`    cpu per call (busy share of one core): ${formatCpu(x.cpuPerCall, x.callsPerSecond)}`);
    }
  };
  console.log(`plain node http baseline       ${fmt(r.plain)}   ${spread(r.plain)}`);
  cpu(r.plain);
  console.log(
    `mcp-server echo (streamable)   ${fmt(r.mcp)}   ratio ${ratio(r.mcp)}x (target >= 0.40x)   ${spread(r.mcp)}`,
  );
  cpu(r.mcp);
  console.log(
    `haproxy -> router -> echo      ${fmt(r.haproxyPath)}   ratio ${ratio(r.haproxyPath)}x (target >= 0.20x)   ${spread(r.haproxyPath)}`,
  );
  cpu(r.haproxyPath);
  console.log(
    `router direct -> echo          ${fmt(r.routerDirect)}   ratio ${ratio(r.routerDirect)}x   ${spread(r.routerDirect)}`,
  );
  cpu(r.routerDirect);
  for (const c of children.splice(0)) c.kill("SIGTERM");
  await gateway.stop();
  gateway = undefined;
  const memory = await idleSessionMemory();
  console.log(
    `router RSS with 2000 idle sessions: ${memory.routerRssMiBWith2000IdleSessions.map((m) => `${m.toFixed(0)} MiB`).join(", ")}`,
  );
} finally {
  for (const c of children) c.kill("SIGTERM");
  await gateway?.stop();
}
