/**
 * The bench's CPU breakdown (scripts/bench/cpu.mjs): a process's figure includes what it started
 * (HAProxy's worker, a bridged stdio server), read from /proc. The module is plain ESM, so it is
 * loaded in a child Node, as `npm run bench` loads it.
 */
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";

const ROOT = join(__dirname, "..", "..");

/** A child that starts a grandchild; the grandchild burns 300 ms of CPU, then idles until killed. */
const PARENT = `
const { spawn } = require("node:child_process");
const grandchild = spawn(process.execPath, ["-e", \`
  const until = 300;
  while ((process.cpuUsage().user + process.cpuUsage().system) / 1000 < until) {}
  process.stdout.write("busy-done\\\\n");
  setInterval(() => {}, 1000);
\`], { stdio: ["ignore", "pipe", "inherit"] });
grandchild.stdout.on("data", (d) => process.stdout.write(JSON.stringify({ grandchild: grandchild.pid }) + "\\n"));
process.on("SIGTERM", () => { grandchild.kill("SIGKILL"); process.exit(0); });
setInterval(() => {}, 1000);
`;

let parent: ChildProcess | undefined;

afterEach(async () => {
  if (parent?.exitCode === null) {
    parent.kill("SIGTERM");
    await once(parent, "exit");
  }
});

/** What `expression` (over the module `m`) gives in a child Node that loaded cpu.mjs as the bench does. */
function fromCpuModule(expression: string): string {
  const script = `import(${JSON.stringify(join(ROOT, "scripts", "bench", "cpu.mjs"))}).then((m) =>
    process.stdout.write(${expression}))`;
  const run = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
  if (run.status !== 0 || run.stderr !== "") throw new Error(run.stderr);
  return run.stdout;
}

/** `cpuSeconds(pids)` as the bench computes it. */
function cpuSeconds(pids: Record<string, number>): Record<string, number> {
  return JSON.parse(fromCpuModule(`JSON.stringify(m.cpuSeconds(${JSON.stringify(pids)}))`)) as Record<
    string,
    number
  >;
}

describe("the bench's CPU figures", () => {
  it("count the CPU of a process's descendants in its own figure", async () => {
    // GIVEN a process whose child has used 0.3 s of CPU and is still running
    parent = spawn(process.execPath, ["-e", PARENT], { stdio: ["ignore", "pipe", "inherit"] });
    const line = await new Promise<string>((resolve) =>
      createInterface({ input: parent?.stdout ?? process.stdin }).once("line", resolve),
    );
    const { grandchild } = JSON.parse(line) as { grandchild: number };

    // WHEN the bench reads both
    const seconds = cpuSeconds({ parent: parent.pid ?? 0, grandchild });

    // THEN the busy child shows its 0.3 s, and the parent's figure includes them
    expect(seconds.grandchild).toBeGreaterThanOrEqual(0.28);
    expect(seconds.parent).toBeGreaterThanOrEqual(seconds.grandchild ?? Infinity);
  });

  it("gives 0 for a process that is gone", () => {
    expect(cpuSeconds({ gone: 2 ** 22 + 1 })).toStrictEqual({ gone: 0 });
  });

  it("print each process's busy share of one core next to its CPU per call", () => {
    // GIVEN 7,500 calls/s, a server at 128 µs and a load generator at 40 µs of CPU per call

    // WHEN the bench formats them
    const line = fromCpuModule("m.formatCpu({ server: 128.4, load: 40 }, 7500)");

    // THEN the server shows as busy 96% of a core (the bottleneck), the load generator 30%
    expect(line).toBe("server 128 µs (96%) · load 40 µs (30%)");
  });
});
