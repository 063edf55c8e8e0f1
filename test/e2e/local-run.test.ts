/**
 * `npm run local`: the plan it derives from the dev stack (pure), and the real command, which
 * brings the whole default platform up on loopback without Docker, serves clients, and stops
 * everything with Ctrl-C.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { loadEnv } from "@mcp-platform/shared";
import { launchPlatform, REPO_ROOT, stackTopology } from "../../scripts/local/launcher";
import type { PlanPorts } from "../../scripts/local/plan";
import { instanceCount, planLocalRun } from "../../scripts/local/plan";
import { component } from "../../infra/topology";
import { MonitorEnvSchema } from "../../services/network-monitor/src/env";
import { streamableClient, textOf } from "../helpers/e2e-clients";
import { haproxyCheck } from "../helpers/haproxy";

jest.setTimeout(120_000);

const PORTS: PlanPorts = {
  gateway: 13000,
  stats: 13099,
  monitor: 13091,
  services: { everything: 13106, memory: 13105 },
  routers: [14001, 14002],
  instances: { everything: [15001, 15002], memory: [15011] },
};

describe("planLocalRun", () => {
  const planWith = (routerEnv?: Record<string, string>) =>
    planLocalRun(stackTopology(REPO_ROOT), {
      root: "/repo",
      workDir: "/tmp/run",
      ports: PORTS,
      sessionKey: "k".repeat(43),
      services: ["memory", "everything"],
      logLevel: "warn",
      ...(routerEnv === undefined ? {} : { routerEnv }),
    });
  const plan = planWith();
  const byName = (name: string) => plan.processes.find((p) => p.name === name);

  it("starts each service's instances, the routers, the monitor and HAProxy, in that order", () => {
    expect(plan.processes.map((p) => [p.name, p.kind, p.port])).toStrictEqual([
      ["mcp-memory-1", "mcp-server", 15011],
      ["mcp-everything-1", "mcp-server", 15001],
      ["mcp-everything-2", "mcp-server", 15002],
      ["router-1", "router", 14001],
      ["router-2", "router", 14002],
      ["network-monitor", "network-monitor", 13091],
      ["haproxy", "haproxy", 13000],
    ]);
  });

  it("gives an instance the topology's environment on loopback, with its volume under the work dir", () => {
    // (allowing the run's gateway origins, as the routers do, not the config's port-3000 ones)
    expect(byName("mcp-memory-1")?.env).toStrictEqual({
      HOST: "127.0.0.1",
      PORT: "15011",
      SERVICE_NAME: "mcp-memory",
      LOG_LEVEL: "warn",
      MCP_ALLOWED_ORIGINS: "http://127.0.0.1:13000,http://localhost:13000",
      MCP_BRIDGE_PROCESSES: "1",
      MCP_BRIDGE_CONCURRENCY: "1",
      MCP_BRIDGE_ENV: "MEMORY_FILE_PATH",
      MEMORY_FILE_PATH: "/tmp/run/memory-data/memory.jsonl",
      MCP_SERVER: JSON.stringify({ command: "/repo/node_modules/.bin/mcp-server-memory", args: [] }),
    });
    expect(plan.directories).toStrictEqual(["/tmp/run/memory-data"]);
  });

  it("points every router at every instance and at its peers, with one shared session key", () => {
    const env = byName("router-2")?.env ?? {};
    expect(env).toStrictEqual({
      HOST: "127.0.0.1",
      PORT: "14002",
      SERVICE_NAME: "router",
      LOG_LEVEL: "warn",
      ROUTER_STATIC_SERVICES: JSON.stringify({
        memory: ["http://127.0.0.1:15011/mcp"],
        everything: ["http://127.0.0.1:15001/mcp", "http://127.0.0.1:15002/mcp"],
      }),
      ROUTER_PEERS: "http://127.0.0.1:14001,http://127.0.0.1:14002",
      ROUTER_SESSION_KEY: "k".repeat(43),
      MCP_ALLOWED_ORIGINS: "http://127.0.0.1:13000,http://localhost:13000",
    });
    expect(byName("router-1")?.env.ROUTER_SESSION_KEY).toBe(env.ROUTER_SESSION_KEY);
  });

  it("has the monitor probe each router and instance as an instance of its service", () => {
    // GIVEN the monitor's environment, as the monitor itself reads it
    const env = loadEnv(MonitorEnvSchema, byName("network-monitor")?.env ?? {});
    const ready = (port: number) => `http://127.0.0.1:${port}/health/ready`;

    // THEN replicas group under their service (routers and mcp-servers also get the MCP probe)
    expect(env.MONITOR_TARGETS).toStrictEqual([
      { name: "haproxy", url: "http://127.0.0.1:13099/healthz" },
      { name: "mcp-memory-1", service: "mcp-memory", url: ready(15011) },
      { name: "mcp-everything-1", service: "mcp-everything", url: ready(15001) },
      { name: "mcp-everything-2", service: "mcp-everything", url: ready(15002) },
      { name: "router-1", service: "router", url: ready(14001) },
      { name: "router-2", service: "router", url: ready(14002) },
    ]);
    expect(env.ROUTER_AUTH_TOKENS).toBeUndefined();

    // AND when the routers require tokens, the monitor holds them for its MCP probe
    const token = "t".repeat(32);
    const guarded = planWith({ ROUTER_AUTH_TOKENS: token }).processes;
    const envOf = (name: string) => guarded.find((p) => p.name === name)?.env.ROUTER_AUTH_TOKENS;
    expect([envOf("router-1"), envOf("network-monitor")]).toStrictEqual([token, token]);
  });

  it("runs a singleton once whatever --instances says, and, for tests only, replicas with data of their own", () => {
    // GIVEN the dev topology's memory (a singleton) and everything services
    const topology = stackTopology(REPO_ROOT);
    const memory = component(topology, "mcp-memory");
    const everything = component(topology, "mcp-everything");

    // WHEN 3 instances are asked for / THEN memory runs one and says so, everything runs 3
    expect([
      instanceCount("memory", memory, { instances: 3 }),
      instanceCount("everything", everything, { instances: 3 }),
      instanceCount("memory", memory, {}),
      instanceCount("memory", memory, { instances: 3, replicateSingletons: true }),
    ]).toStrictEqual([
      { replicas: 1, note: "memory is a singleton (one writer of its data): it runs 1 instance" },
      { replicas: 3 },
      { replicas: 1 },
      { replicas: 3 },
    ]);

    // AND replicated memory instances (tests) each keep their graph in a directory of their own
    const replicated = planLocalRun(topology, {
      root: "/repo",
      workDir: "/tmp/run",
      ports: { ...PORTS, instances: { memory: [15011, 15012] } },
      sessionKey: "k".repeat(43),
      services: ["memory"],
      replicateSingletons: true,
    });
    expect([
      replicated.processes.filter((p) => p.kind === "mcp-server").map((p) => p.env.MEMORY_FILE_PATH),
      replicated.directories,
    ]).toStrictEqual([
      ["/tmp/run/memory-data/memory.jsonl", "/tmp/run/memory-data-2/memory.jsonl"],
      ["/tmp/run/memory-data", "/tmp/run/memory-data-2"],
    ]);
  });

  it("renders HAProxy's static-servers config on 127.0.0.1, which real haproxy accepts", () => {
    const config = plan.haproxyConfig;
    for (const line of [
      "bind 127.0.0.1:13000",
      "bind 127.0.0.1:13099",
      "bind 127.0.0.1:13106",
      "server router-1 127.0.0.1:14001 check",
      "server router-2 127.0.0.1:14002 check",
      "server mcp-everything-2 127.0.0.1:15002 check",
      "server mcp-memory-1 127.0.0.1:15011 check",
      // a port another process holds fails the start instead of being shared with it
      "noreuseport",
    ]) {
      expect(config).toContain(line);
    }
    expect(config).not.toContain("mcp-files");
    expect(haproxyCheck(config).status).toBe(0);
  });
});

/** What the tests read of an instance in the monitor's `/api/services`. */
interface InstanceSeen {
  readonly id: string;
  readonly status: string;
  readonly checks: readonly { readonly kind: string; readonly outcome: string }[];
}

const mcpOutcome = (instance: InstanceSeen) => instance.checks.find((c) => c.kind === "mcp")?.outcome;

/**
 * The monitor's `router` service once both routers have been probed over MCP (the first round
 * may run while they are still starting), or its last view after `rounds` polls.
 */
async function routerView(
  url: string,
  rounds = 60,
): Promise<{ instances: readonly InstanceSeen[] } | undefined> {
  let router: { instances: readonly InstanceSeen[] } | undefined;
  for (let round = 0; round < rounds; round++) {
    const view = (await (await fetch(url)).json()) as {
      services: { name: string; instances: readonly InstanceSeen[] }[];
    };
    router = view.services.find((s) => s.name === "router");
    const probed = router?.instances.filter((i) => mcpOutcome(i) === "success").length ?? 0;
    if (probed === 2) return router;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return router;
}

/** One process as `ps` shows it. */
interface ProcessRow {
  readonly pid: number;
  readonly pgid: number;
  readonly ppid: number;
}

/** Every process now running (zombies left out: they are gone, only not yet reaped). */
function processTable(): ProcessRow[] {
  return execFileSync("ps", ["-e", "-o", "pid=,pgid=,ppid=,stat="], { encoding: "utf8" })
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, , , stat]) => pid !== undefined && pid !== "" && !(stat ?? "").startsWith("Z"))
    .map(([pid, pgid, ppid]) => ({ pid: Number(pid), pgid: Number(pgid), ppid: Number(ppid) }));
}

/** This test process's group, which the CLI shares (it is spawned without `detached`). */
const OWN_GROUP = Number(
  execFileSync("ps", ["-o", "pgid=", "-p", String(process.pid)], { encoding: "utf8" }).trim(),
);

/**
 * The processes still running of what `pids` and `groups` name: those processes, the members
 * of those groups (never this test's own), and everything below them. The launcher starts each
 * child in its own group, and a child outlives the CLI when it dies without stopping it; such an
 * orphan is then found through its group or its recorded pid, no longer through its parent.
 */
function remnants(pids: ReadonlySet<number>, groups: ReadonlySet<number>): ProcessRow[] {
  const table = processTable();
  const found = new Map<number, ProcessRow>();
  for (const row of table) {
    if (pids.has(row.pid) || (groups.has(row.pgid) && row.pgid !== OWN_GROUP)) found.set(row.pid, row);
  }
  for (let grew = true; grew;) {
    grew = false;
    for (const row of table) {
      if (!found.has(row.pid) && found.has(row.ppid)) {
        found.set(row.pid, row);
        grew = true;
      }
    }
  }
  return [...found.values()];
}

/** Resolves when `child` has exited, or after `ms`, whichever comes first. */
async function exitOrTimeout(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    new Promise((resolve) => child.once("exit", resolve)),
    new Promise((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}

describe("launchPlatform", () => {
  it("starts again on other ports when a port chosen for the run is taken before it is bound", async () => {
    // GIVEN a run of one service whose first attempt finds its instance's port taken by another
    // program between the choice and the start
    const said: string[] = [];
    const taken: Server[] = [];
    let attempts = 0;
    const platform = await launchPlatform({
      services: ["echo"],
      routers: 1,
      monitor: false,
      ports: "random",
      say: (message) => said.push(message),
      beforeStart: async (plan) => {
        if (++attempts > 1) return;
        const port = plan.processes.find((p) => p.kind === "mcp-server")?.port ?? 0;
        const squatter = createServer();
        await new Promise<void>((resolve) => squatter.listen(port, "127.0.0.1", resolve));
        taken.push(squatter);
      },
    }).finally(() => Promise.all(taken.map((s) => new Promise((resolve) => s.close(resolve)))));
    try {
      // THEN the second attempt came up, said why it started again, and serves a call
      const client = await streamableClient(`${platform.gatewayUrl}/mcp`);
      const result = await client.callTool({ name: "echo__echo", arguments: { message: "again" } });
      await client.close();
      expect([
        attempts,
        said.includes("a port chosen for the run was taken meanwhile; starting again on other ports"),
        textOf(result),
      ]).toStrictEqual([2, true, "again"]);
    } finally {
      await platform.stop();
    }
  });
});

describe("npm run local", () => {
  let cli: ChildProcess | undefined;
  /** Every process (and group) of the run seen so far, for the cleanup. */
  const seen = { pids: new Set<number>(), groups: new Set<number>() };
  const record = (rows: readonly ProcessRow[]) => {
    for (const row of rows) {
      seen.pids.add(row.pid);
      seen.groups.add(row.pgid);
    }
  };

  // Whatever the test did or where it failed: stop the CLI as Ctrl-C would, then kill what is
  // left of its tree (a hung stop leaves its children behind).
  afterEach(async () => {
    if (cli?.pid === undefined) return;
    if (cli.exitCode === null && cli.signalCode === null) {
      // Frozen, it cannot start a process between the snapshot of its tree and the signal.
      cli.kill("SIGSTOP");
      record(remnants(new Set([cli.pid]), new Set()));
      cli.kill("SIGINT");
      cli.kill("SIGCONT");
      // The launcher's stop gives its processes 10 s before it SIGKILLs them.
      await exitOrTimeout(cli, 20_000);
      cli.kill("SIGKILL");
    }
    const kill = (target: number) => {
      try {
        process.kill(target, "SIGKILL");
      } catch {
        // already gone
      }
    };
    for (const row of remnants(seen.pids, seen.groups)) {
      if (row.pgid !== OWN_GROUP) kill(-row.pgid);
      kill(row.pid);
    }
    cli = undefined;
  });

  /** Starts the command on random ports; `output` collects its lines, `line()` waits for one. */
  function startCli() {
    const started = spawn(process.execPath, [join(REPO_ROOT, "scripts", "local.mjs"), "--random-ports"], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    cli = started;
    const exited = new Promise<number | null>((resolve) => started.once("exit", (code) => resolve(code)));
    const output: string[] = [];
    const waiting = new Set<{ pattern: RegExp; resolve: (m: RegExpExecArray) => void }>();
    createInterface({ input: started.stdout }).on("line", (text) => {
      output.push(text);
      for (const w of waiting) {
        const match = w.pattern.exec(text);
        if (match === null) continue;
        waiting.delete(w);
        w.resolve(match);
      }
    });
    const line = (pattern: RegExp) =>
      new Promise<RegExpExecArray>((resolve, reject) => {
        waiting.add({ pattern, resolve });
        void exited.then((code) => reject(new Error(`exited with ${code}: ${output.join("\n")}`)));
      });
    return { pid: started.pid ?? 0, exited, output, line };
  }

  it("brings the default platform up, serves every service and the monitor, and stops cleanly on Ctrl-C", async () => {
    // GIVEN the command, on random ports so it cannot collide with anything on this machine
    const { pid, exited, output, line } = startCli();
    const gateway = line(/Gateway: (http:\/\/127\.0\.0\.1:\d+)\/mcp/);

    // WHEN it is up and a client uses the gateway
    const url = (await gateway)[1];
    // (what it started, for the cleanup too: should the CLI die later, its children stay behind)
    record(remnants(new Set([pid]), new Set()));
    const monitorUrl = /Monitor\s+(http:\/\/\S+)\//.exec(output.join("\n"))?.[1];
    const client = await streamableClient(`${url}/mcp`);
    const services = new Set((await client.listTools()).tools.map((t) => t.name.split("__")[0]));
    const echo = textOf(await client.callTool({ name: "echo__echo", arguments: { message: "local" } }));
    await client.close();
    const monitor = await fetch(`${monitorUrl}/api/services`);
    const routers = await routerView(`${monitorUrl}/api/services`);
    const descendants = remnants(new Set([pid]), new Set()).filter((row) => row.pid !== pid);
    record(descendants);
    process.kill(pid, "SIGINT");
    const code = await exited;

    // THEN every default service answered, the monitor served, and Ctrl-C left nothing running
    expect([...services].sort()).toStrictEqual(["echo", "everything", "files", "memory"]);
    expect(echo).toBe("local");
    expect(monitor.status).toBe(200);
    // the monitor shows the two routers as instances of one service, each passing the MCP probe
    expect(routers?.instances.map((i) => [i.id, i.status, mcpOutcome(i)])).toStrictEqual([
      ["router-1", "up", "success"],
      ["router-2", "up", "success"],
    ]);
    // 7 mcp-server instances, 2 routers, the monitor and HAProxy (plus esbuild's service, which
    // built the launcher), and what they run below them
    expect(descendants.filter((row) => row.ppid === pid).length).toBeGreaterThanOrEqual(11);
    expect(descendants.length).toBeGreaterThan(11);
    expect(code).toBe(0);
    expect(remnants(seen.pids, seen.groups)).toStrictEqual([]);
  });

  it("refuses bad arguments with the usage line and exit 2 before starting anything, and shows the usage and the options for --help", () => {
    // GIVEN the command / WHEN it gets arguments it must refuse, and --help
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [join(REPO_ROOT, "scripts", "local.mjs"), ...args], {
        cwd: REPO_ROOT,
        encoding: "utf8",
      });
    const refused = [
      ["--services", ""],
      ["--services", " , "],
      ["--routers", "0x2"],
      ["--routers", "1e0"],
      ["--instances", "2.0"],
      ["--routers", "17"],
      ["--bogus"],
    ].map((args) => run(...args));
    const help = run("--help");

    // THEN each refusal says why, then the usage, and exits 2; --help prints the usage and exits 0
    const usage =
      "usage: npm run local -- [--routers N] [--services a,b] [--instances N] [--random-ports] [--debug]";
    expect(refused.map((r) => [r.status, r.stdout, r.stderr.trim().split("\n")])).toStrictEqual([
      [2, "", ["--services needs at least one service id (such as echo)", usage]],
      [2, "", ["--services needs at least one service id (such as echo)", usage]],
      [2, "", ['--routers must be an integer from 1 to 16 (got "0x2")', usage]],
      [2, "", ['--routers must be an integer from 1 to 16 (got "1e0")', usage]],
      [2, "", ['--instances must be an integer from 1 to 16 (got "2.0")', usage]],
      [2, "", ['--routers must be an integer from 1 to 16 (got "17")', usage]],
      [2, "", [expect.stringContaining("Unknown option '--bogus'"), usage]],
    ]);
    // (the usage, then what each option does)
    const helpLines = help.stdout.trim().split("\n");
    expect([help.status, helpLines[0], help.stderr]).toStrictEqual([0, usage, ""]);
    for (const option of ["--routers N", "--services a,b", "--instances N", "--random-ports", "--debug"]) {
      expect(helpLines.some((line) => line.trimStart().startsWith(option))).toBe(true);
    }
  });

  it("stops what it started when Ctrl-C comes while it is still starting, and exits 0", async () => {
    // GIVEN the command, once its MCP service instances are up and the routers are starting
    const { pid, exited, output, line } = startCli();
    await line(/starting \d+ router\(s\)/);
    const descendants = remnants(new Set([pid]), new Set()).filter((row) => row.pid !== pid);
    record(descendants);

    // WHEN Ctrl-C comes
    process.kill(pid, "SIGINT");
    const code = await exited;

    // THEN it said so and exited 0, and nothing it started is left running
    expect(descendants.length).toBeGreaterThanOrEqual(7);
    expect(output.slice(-2).map((l) => l.trim())).toStrictEqual(["SIGINT: stopping…", "stopped"]);
    expect(code).toBe(0);
    expect(remnants(seen.pids, seen.groups)).toStrictEqual([]);
  });
});
