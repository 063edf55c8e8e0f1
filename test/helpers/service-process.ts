/**
 * Runs a built service (`node services/<svc>/dist/main.js`) as a child process for tests: its
 * JSON log lines are parsed as they arrive so a test can wait for one (such as
 * `{"msg":"listening"}`) instead of sleeping, and every child started is tracked so
 * `stopAllServices()` in afterEach/afterAll kills it even when the test failed.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { ExitStatus, LogLine } from "../../scripts/local/log-lines";
import { LogLines } from "../../scripts/local/log-lines";

export type { ExitStatus, LogLine };

/** The repository root. */
export const REPO_ROOT = join(__dirname, "..", "..");

/** The services this repository builds. */
export const SERVICES = ["router", "mcp-server", "network-monitor"] as const;

/** One of `SERVICES`. */
export type ServiceName = (typeof SERVICES)[number];

/** A running service child process. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Parsed stdout lines so far (lines that are not JSON are kept as `{ raw }`). */
  readonly lines: LogLine[];
  /** Everything written to stderr so far. */
  readonly stderr: () => string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** Resolves with the first log line matching `predicate`; rejects if the process exits first. */
  waitForLog(predicate: (line: LogLine) => boolean): Promise<LogLine>;
}

const running = new Set<ChildProcess>();

/** The built entry point of a service; fails clearly when `npm run build` has not run. */
export function entryPoint(service: ServiceName): string {
  const path = join(REPO_ROOT, "services", service, "dist", "main.js");
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first`);
  return path;
}

/** The version in a service's package.json, which the build bakes into the bundle. */
export function serviceVersion(service: ServiceName): string {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "services", service, "package.json"), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Starts `node services/<service>/dist/main.js` with exactly `env` (plus PATH), so variables of
 * the test runner's own environment cannot leak into the service.
 */
export function startService(service: ServiceName, env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, [entryPoint(service)], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let stderr = "";
  const exited = new Promise<ExitStatus>((resolve) => {
    // "close", not "exit": it fires after stdout and stderr have been read to the end.
    child.once("close", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const log: LogLines = new LogLines(
    exited,
    (status) =>
      new Error(
        `${service} exited (${JSON.stringify(status)}) before the awaited log line; ` +
          `stdout: ${JSON.stringify(log.lines)}; stderr: ${stderr}`,
      ),
  );
  if (child.stdout === null) throw new Error("spawned without a stdout pipe");
  createInterface({ input: child.stdout }).on("line", (text) => log.push(text));

  return {
    child,
    lines: log.lines,
    stderr: () => stderr,
    exited,
    waitForLog: (predicate) => log.waitFor(predicate),
  };
}

/** Kills every child still running (SIGKILL) and waits until each has exited. */
export async function stopAllServices(): Promise<void> {
  const children = [...running];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (!running.has(child)) return resolve();
          child.once("close", () => resolve());
          child.kill("SIGKILL");
        }),
    ),
  );
}

/** A GET over a fresh connection (`Connection: close`), so no socket outlives the test. */
export function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
