/**
 * Runs the platform on this machine without Docker (`npm run local`, the e2e tests and the
 * gateway bench all use this): HAProxy from PATH with the static-servers config rendered from
 * the topology, router replicas, the MCP services' mcp-server instances (bridging the npm stdio
 * servers installed as dev dependencies) and the network monitor, all as processes on loopback.
 *
 * Each process runs in its own process group; `stop()` ends them all (SIGTERM, then SIGKILL
 * for anything still running, bridged children included). Readiness is awaited on events (log
 * lines, HAProxy's "Loading success."), with one bounded poll of the gateway's health endpoint
 * once HAProxy is up, where no event exists.
 */
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { WriteStream } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Topology } from "../../infra/topology";
import { buildTopology, component } from "../../infra/topology";
import { stackFileConfig } from "../stack-file";
import type { ExitStatus, LogLine } from "./log-lines";
import { LogLines } from "./log-lines";
import type { LocalPlan, PlanOptions, PlanPorts, ProcessKind, ProcessPlan } from "./plan";
import { instanceCount, planLocalRun, selectedCatalog } from "./plan";

/** One running process of the platform. */
export interface RunningProcess {
  readonly name: string;
  readonly kind: ProcessKind;
  readonly service?: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly pid: number;
  /** Parsed output lines so far (only the last 50 unless the launch keeps them all). */
  readonly lines: LogLine[];
  readonly exited: Promise<ExitStatus>;
  /** Whether the process has exited. */
  readonly done: boolean;
  /** Resolves with the first line (seen or to come) matching `predicate`; rejects if it exits first. */
  waitForLog(predicate: (line: LogLine) => boolean): Promise<LogLine>;
  /**
   * Sends `signal` to the process group; SIGKILL also kills the processes it started (a bridged
   * stdio server lives in its own group), as a container kill would. Resolves once it exited.
   */
  kill(signal: NodeJS.Signals): Promise<ExitStatus>;
}

/** Options of `launchPlatform`. */
export interface LaunchOptions extends PlanOptions {
  /** Repository root; defaults to this file's `../..`. */
  readonly root?: string;
  /** `gateway`, `stats`, `monitor` and service front ports: the topology's when free (default), or random. */
  readonly ports?: "topology" | "random";
  /** Keep parsed log lines in memory for `waitForLog` (tests); default true. */
  readonly keepLines?: boolean;
  /** Also write each process's output to `<workDir>/logs/<name>.log`; default false. */
  readonly logFiles?: boolean;
  /** Progress messages (the CLI prints them). */
  readonly say?: (message: string) => void;
  /** Tests: called once the run's ports are chosen, before any process starts. */
  readonly beforeStart?: (plan: LocalPlan) => Promise<void> | void;
  /** Called when a process exits while the platform is running. */
  readonly onExit?: (process: RunningProcess, status: ExitStatus) => void;
  /**
   * Aborts a launch still starting (Ctrl-C): what was started is stopped, the work directory
   * removed, and the launch rejects.
   */
  readonly signal?: AbortSignal;
}

/** A running platform. */
export interface Platform {
  readonly gatewayUrl: string;
  readonly statsUrl: string;
  readonly monitorUrl: string | undefined;
  readonly routers: readonly RunningProcess[];
  /** mcp-server instances by catalog id. */
  readonly services: Readonly<Record<string, readonly RunningProcess[]>>;
  /** HAProxy's direct frontend URL per service (`http://127.0.0.1:11106`). */
  readonly serviceUrls: Readonly<Record<string, string>>;
  readonly haproxy: RunningProcess;
  readonly monitor: RunningProcess | undefined;
  readonly sessionKey: string;
  readonly workDir: string;
  /** Things the user should know (ports moved, services skipped). */
  readonly notes: readonly string[];
  readonly plan: LocalPlan;
  /** Stops every process and removes the work directory. */
  stop(): Promise<void>;
}

/** Log lines kept per process when `keepLines` is off. */
const RECENT_LINES = 50;

/** Longest a launch may take before it gives up and cleans up. */
export const LAUNCH_TIMEOUT_MS = 90_000;

/** Repository root, from this file's location. */
export const REPO_ROOT = join(__dirname, "..", "..");

/** The topology of a committed stack file, as the Pulumi program would derive it. */
export function stackTopology(root: string, stack = "dev"): Topology {
  return buildTopology(stackFileConfig(root, stack));
}

/** A port the OS considers free on 127.0.0.1 right now (0 asks for any). */
function listenable(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => {
      const bound = (server.address() as { port: number }).port;
      server.close(() => resolve(bound));
    });
  });
}

/** Picks every port of the run, avoiding duplicates. */
async function choosePorts(topology: Topology, options: LaunchOptions, notes: string[]): Promise<PlanPorts> {
  const taken = new Set<number>();
  const any = async (): Promise<number> => {
    for (;;) {
      const port = await listenable(0);
      if (port !== undefined && !taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  const preferred = async (port: number, what: string): Promise<number> => {
    if (options.ports === "random") return any();
    if (!taken.has(port) && (await listenable(port)) === port) {
      taken.add(port);
      return port;
    }
    const chosen = await any();
    notes.push(`${what} port ${port} is busy; using ${chosen}`);
    return chosen;
  };
  const catalog = selectedCatalog(topology, options.services);
  const routerCount = options.routers ?? topology.components.find((c) => c.name === "router")?.replicas ?? 1;
  const gateway = await preferred(topology.ports.gateway, "gateway");
  const stats = await preferred(topology.ports.stats, "HAProxy stats");
  const monitor = await preferred(topology.ports.monitor, "monitor");
  const services: Record<string, number> = {};
  const instances: Record<string, number[]> = {};
  for (const entry of catalog) {
    services[entry.id] = await preferred(entry.port, `${entry.id} direct`);
    const { replicas, note } = instanceCount(entry.id, component(topology, entry.component), options);
    if (note !== undefined) notes.push(note);
    instances[entry.id] = [];
    for (let i = 0; i < replicas; i++) instances[entry.id]?.push(await any());
  }
  const routers: number[] = [];
  for (let i = 0; i < routerCount; i++) routers.push(await any());
  return { gateway, stats, monitor, services, instances, routers };
}

/** PIDs of every descendant of `pid`. */
function descendants(pid: number): number[] {
  let table: string;
  try {
    table = execFileSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" });
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const line of table.split("\n")) {
    const [child, parent] = line.trim().split(/\s+/).map(Number);
    if (child === undefined || parent === undefined || Number.isNaN(child)) continue;
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      found.push(c);
      walk(c);
    }
  };
  walk(pid);
  return found;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Starts one process of the plan. */
function startProcess(
  plan: ProcessPlan,
  command: { file: string; args: string[] },
  options: { root: string; keepLines: boolean; logFile?: WriteStream },
): RunningProcess {
  const child: ChildProcess = spawn(command.file, command.args, {
    cwd: options.root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...plan.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let done = false;
  let killed: number[] = [];
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("close", (code, signal) => {
      done = true;
      // Whatever it started dies with it (bridged servers, HAProxy workers).
      for (const pid of killed) signalGroup(pid, "SIGKILL");
      resolve({ code, signal });
    });
  });
  const log = new LogLines(
    exited,
    (status) => new Error(`${plan.name} exited (${JSON.stringify(status)}) before the awaited log line`),
    // Without keepLines (a long `npm run local`), only the last lines stay, for error reports.
    options.keepLines ? undefined : RECENT_LINES,
  );
  const onLine = (text: string) => {
    options.logFile?.write(`${text}\n`);
    log.push(text);
  };
  // A command that cannot start (haproxy missing from PATH) ends like a process that exited.
  child.once("error", (error) => {
    onLine(`cannot start ${command.file}: ${error.message}`);
  });
  if (child.stdout !== null) createInterface({ input: child.stdout }).on("line", onLine);
  if (child.stderr !== null) createInterface({ input: child.stderr }).on("line", (text) => onLine(text));
  const pid = child.pid ?? -1;
  return {
    name: plan.name,
    kind: plan.kind,
    ...(plan.service === undefined ? {} : { service: plan.service }),
    port: plan.port,
    url: `http://127.0.0.1:${plan.port}`,
    pid,
    lines: log.lines,
    exited,
    get done() {
      return done;
    },
    waitForLog: (predicate) => log.waitFor(predicate),
    kill(signal) {
      if (!done) {
        if (signal === "SIGKILL") killed = descendants(pid);
        signalGroup(pid, signal);
      }
      return exited;
    },
  };
}

/**
 * `-n <maxconn>` when this machine's open-file limit is below what the rendered `maxconn` needs
 * (HAProxy wants about two descriptors per connection and refuses to start otherwise); the
 * command-line limit wins over the config's.
 */
function haproxyConnectionLimit(): string[] {
  let limit: number;
  try {
    limit = Number(execFileSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim());
  } catch {
    return [];
  }
  return Number.isFinite(limit) && limit < 41_000 ? ["-n", String(Math.floor((limit - 200) / 2))] : [];
}

/** Polls `url` until it answers 200, at most `attempts` times `intervalMs` apart. */
async function waitHealthy(url: string, attempts: number, intervalMs: number): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const status = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      .then(async (r) => {
        await r.body?.cancel();
        return r.status;
      })
      .catch(() => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`${url} did not answer 200`);
}

/** Launches tried before giving up when a chosen port was taken meanwhile. */
const LAUNCH_ATTEMPTS = 3;

/** A launch failed because a port chosen for it was taken before its process bound it. */
class PortTakenError extends Error {}

/** Whether a process's output says its port was taken (a service's EADDRINUSE, HAProxy's bind). */
function portWasTaken(proc: RunningProcess): boolean {
  return proc.lines.some((line) => /EADDRINUSE|Address already in use/.test(JSON.stringify(line)));
}

/**
 * Starts the platform and resolves once the gateway serves; rejects (after cleaning up) on failure.
 * Ports are chosen free, but another program can take one before its process binds it: such a
 * launch is started again, on ports chosen anew.
 */
export async function launchPlatform(options: LaunchOptions = {}): Promise<Platform> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchAttempt(options);
    } catch (error) {
      if (
        !(error instanceof PortTakenError) ||
        attempt >= LAUNCH_ATTEMPTS ||
        options.signal?.aborted === true
      ) {
        throw error;
      }
      options.say?.("a port chosen for the run was taken meanwhile; starting again on other ports");
    }
  }
}

async function launchAttempt(options: LaunchOptions): Promise<Platform> {
  const root = options.root ?? REPO_ROOT;
  const say = options.say ?? (() => undefined);
  // Readiness is read from the services' info lines ("listening", "catalog ready").
  if (options.logLevel !== undefined && !["info", "debug", "trace"].includes(options.logLevel)) {
    throw new Error(`logLevel must be info, debug or trace (got ${options.logLevel})`);
  }
  try {
    execFileSync("haproxy", ["-v"], { stdio: "ignore" });
  } catch {
    throw new Error("haproxy is not on PATH (Debian/Ubuntu: apt-get install haproxy)");
  }
  const topology = stackTopology(root);
  const notes: string[] = [];
  const ports = await choosePorts(topology, options, notes);
  const workDir = mkdtempSync(join(tmpdir(), "mcp-platform-local-"));
  const sessionKey = randomBytes(32).toString("base64url");
  const plan = planLocalRun(topology, { ...options, root, workDir, ports, sessionKey, secrets: process.env });
  for (const skip of plan.skipped) notes.push(`service ${skip.service} skipped: ${skip.reason}`);
  for (const dir of plan.directories) mkdirSync(dir, { recursive: true });
  if (options.logFiles === true) mkdirSync(join(workDir, "logs"), { recursive: true });
  const haproxyFile = join(workDir, "haproxy.cfg");
  writeFileSync(haproxyFile, plan.haproxyConfig);
  await options.beforeStart?.(plan);

  const running: RunningProcess[] = [];
  let stopping = false;
  const start = (p: ProcessPlan): RunningProcess => {
    // A launch given up (timed out, aborted) stops what it started; a step still under way
    // must not start more behind its back.
    if (stopping) throw new Error("the launch was given up");
    const command =
      p.kind === "haproxy"
        ? { file: "haproxy", args: ["-W", "-db", ...haproxyConnectionLimit(), "-f", haproxyFile] }
        : { file: process.execPath, args: [join(root, "services", p.kind, "dist", "main.js")] };
    const logFile =
      options.logFiles === true
        ? createWriteStream(join(workDir, "logs", `${p.name}.log`), { flags: "a" })
        : undefined;
    const proc = startProcess(p, command, {
      root,
      keepLines: options.keepLines ?? true,
      ...(logFile === undefined ? {} : { logFile }),
    });
    running.push(proc);
    void proc.exited.then((status) => {
      logFile?.end();
      if (!stopping) options.onExit?.(proc, status);
    });
    return proc;
  };

  const stop = async (): Promise<void> => {
    stopping = true;
    const alive = running.filter((p) => !p.done);
    for (const p of alive) signalGroup(p.pid, "SIGTERM");
    const grace = new Promise<void>((resolve) => setTimeout(resolve, 10_000).unref());
    await Promise.race([Promise.all(alive.map((p) => p.exited)), grace]);
    await Promise.all(running.filter((p) => !p.done).map((p) => p.kill("SIGKILL")));
    rmSync(workDir, { recursive: true, force: true });
  };

  const startAll = async () => {
    const byKind = (kind: ProcessKind) => plan.processes.filter((p) => p.kind === kind);
    say(`starting ${byKind("mcp-server").length} MCP service instance(s)`);
    const instances = byKind("mcp-server").map(start);
    await Promise.all(instances.map((p) => p.waitForLog((l) => l.msg === "bridge link up")));
    say(`starting ${byKind("router").length} router(s)`);
    const routers = byKind("router").map(start);
    await Promise.all(routers.map((p) => p.waitForLog((l) => l.msg === "catalog ready")));
    say("starting HAProxy");
    const haproxyPlan = byKind("haproxy")[0];
    if (haproxyPlan === undefined) throw new Error("the plan has no haproxy");
    const haproxy = start(haproxyPlan);
    await haproxy.waitForLog((l) => typeof l.raw === "string" && l.raw.includes("Loading success"));
    await waitHealthy(`${plan.gatewayUrl}/health/ready`, 100, 50);
    // Last, once everything it probes is up: its history then starts without a false outage.
    const monitorPlan = byKind("network-monitor")[0];
    const monitor = monitorPlan === undefined ? undefined : start(monitorPlan);
    if (monitor !== undefined) await monitor.waitForLog((l) => l.msg === "listening");

    const services: Record<string, RunningProcess[]> = {};
    for (const p of instances) if (p.service !== undefined) (services[p.service] ??= []).push(p);
    const serviceUrls = Object.fromEntries(
      Object.keys(services).map((id) => [id, `http://127.0.0.1:${ports.services[id] ?? 0}`]),
    );
    return {
      gatewayUrl: plan.gatewayUrl,
      statsUrl: `http://127.0.0.1:${ports.stats}`,
      monitorUrl: monitor === undefined ? undefined : `http://127.0.0.1:${ports.monitor}`,
      routers,
      services,
      serviceUrls,
      haproxy,
      monitor,
      sessionKey,
      workDir,
      notes,
      plan,
      stop,
    };
  };
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not up after ${LAUNCH_TIMEOUT_MS} ms`)), LAUNCH_TIMEOUT_MS);
    onAbort = () => reject(new Error("stopped while starting"));
    if (options.signal?.aborted === true) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([startAll(), deadline]);
  } catch (error) {
    const output = running
      .filter((p) => p.done || p.lines.length > 0)
      .map((p) => `${p.name}: ${JSON.stringify(p.lines.slice(-5))}`)
      .join("\n");
    const taken = running.some((p) => p.done && portWasTaken(p));
    await stop();
    const message = `the platform did not start: ${String(error)}\n${output}`;
    throw taken ? new PortTakenError(message, { cause: error }) : new Error(message, { cause: error });
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) options.signal?.removeEventListener("abort", onAbort);
  }
}
