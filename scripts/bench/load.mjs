// Closed-loop load: `concurrency` workers each send `tools/call echo` one after another until
// `total` calls are done; every answer is checked. Returns calls/s and latency percentiles.
import { Pool } from "undici";
import { cpuSeconds, perCall } from "./cpu.mjs";

/** Text of the JSON-RPC message in a JSON or SSE (`data: ...`) response body. */
export function messageOf(contentType, text) {
  if (contentType?.startsWith("text/event-stream")) {
    const line = text.split("\n").find((l) => l.startsWith("data: "));
    return JSON.parse(line.slice(6));
  }
  return JSON.parse(text);
}

/** A `runLoad` result as one line: calls/s, p50 and p99. */
export const formatResult = (r) =>
  `${r.callsPerSecond.toFixed(0).padStart(7)} calls/s   p50 ${r.p50.toFixed(2).padStart(6)} ms   p99 ${r.p99.toFixed(2).padStart(6)} ms`;

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Run the load against `url` with extra headers, calling `tool` (an echo-like tool that returns
 * its `message`); throws on any wrong answer. The first `warmup` calls (a tenth of `total` by
 * default) are not counted: every process on the path, the baseline's too, is measured once its
 * JIT and heap have settled, not while they still compile the hot path. With `processes`
 * (`{ name: pid }`), the result also has `cpuPerCall`: the CPU microseconds each of them, and the
 * load generator itself (`load`), spent per measured call.
 */
export async function runLoad({
  url,
  headers = {},
  total,
  concurrency,
  tool = "echo",
  warmup = Math.max(200, Math.round(total / 10)),
  processes,
}) {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: concurrency, pipelining: 1 });
  let next = 0;
  const latencies = [];
  const call = async (record) => {
    const id = ++next;
    const message = `m${id}`;
    const started = performance.now();
    const res = await pool.request({
      path: target.pathname,
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...headers,
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id,
        method: "tools/call",
        params: { name: tool, arguments: { message } },
      }),
    });
    const text = await res.body.text();
    const answer = messageOf(res.headers["content-type"], text);
    if (
      res.statusCode !== 200 ||
      answer.id !== id ||
      !JSON.stringify(answer.result?.content ?? "").includes(message)
    ) {
      throw new Error(`bad answer (${res.statusCode}): ${text.slice(0, 200)}`);
    }
    if (record) latencies.push(performance.now() - started);
  };
  const worker = async (count, record) => {
    for (let i = 0; i < count; i++) await call(record);
  };
  await Promise.all(
    Array.from({ length: concurrency }, () => worker(Math.ceil(warmup / concurrency), false)),
  );
  const cpuBefore = processes === undefined ? undefined : cpuSeconds(processes);
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => worker(Math.ceil(total / concurrency), true)));
  const seconds = (performance.now() - started) / 1000;
  const own = process.cpuUsage(ownBefore);
  const cpu =
    processes === undefined ? undefined : perCall(cpuBefore, cpuSeconds(processes), latencies.length);
  await pool.close();
  latencies.sort((a, b) => a - b);
  return {
    calls: latencies.length,
    callsPerSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ...(cpu === undefined
      ? {}
      : { cpuPerCall: { ...cpu, load: (own.user + own.system) / latencies.length } }),
  };
}
