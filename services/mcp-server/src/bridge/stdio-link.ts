/**
 * A link to a stdio MCP server run as a long-lived child process. The child gets its own process
 * group, so closing the link (or shutting down) stops everything it started, not just the top
 * process (`npx` wrappers, shells).
 */
import { spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import { errorText } from "@mcp-platform/shared";
import type { Link } from "./link";

/** What to run: one entry of the standard `mcpServers` shape. */
export interface StdioCommand {
  readonly command: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/** How long a child may take to exit after SIGTERM before its group gets SIGKILL. */
export const KILL_GRACE_MS = 3000;
/** Longest stderr line kept in a log entry. */
const MAX_LOG_LINE = 2000;
/**
 * How long a failed write to a child's stdin, or the end of its stdout, waits for the child's
 * exit before the link is taken down for it: a child that died does both too, and its exit
 * status says better why.
 */
export const STDIN_FAILURE_GRACE_MS = 500;
/**
 * Most bytes written to a child and not yet read by it: past this the child counts as no longer
 * reading its input, as when a write fails (a child stuck without reading would otherwise make
 * this server keep every request sent to it in memory).
 */
export const MAX_STDIN_BACKLOG_BYTES = 64 * 1024 * 1024;

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `was killed by ${signal}` : `exited with code ${String(code)}`;
}

/** Send a signal to the child's whole process group, ignoring a group that is already gone. */
function signalGroup(child: ChildProcessWithoutNullStreams, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group has exited already.
  }
}

/** Children whose process group has not been killed yet. */
const liveGroups = new Set<ChildProcessWithoutNullStreams>();
let killOnExitInstalled = false;

/**
 * Kills the remaining children's groups when this process exits, however it exits: a forced
 * shutdown (the drain deadline passed) exits without closing the pool, and the children, in
 * their own groups, would outlive it. Installed with the first child.
 */
function killGroupsOnExit(): void {
  if (killOnExitInstalled) return;
  killOnExitInstalled = true;
  process.once("exit", () => {
    for (const child of liveGroups) signalGroup(child, "SIGKILL");
  });
}

/** Spawn the command and return a link to it. Never throws: a failed spawn ends in `onexit`. */
export function startStdioLink(
  name: string,
  command: StdioCommand,
  logger: Logger,
): Link & { readonly pid?: number } {
  const child = spawn(command.command, [...(command.args ?? [])], {
    env: { ...getDefaultEnvironment(), ...command.env },
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
  });
  const log = logger.child({ child: name, pid: child.pid });
  const buffer = new ReadBuffer();
  let exited = false;
  let exitCause: string | undefined;
  /** `close()` was called: errors of the stdin it ends are expected. */
  let closing = false;
  let stderrRest = "";
  /** The child's stdout overflowed the read buffer: nothing more of it is read. */
  let unreadable = false;
  const exitedPromise = new Promise<void>((resolve) => child.once("close", () => resolve()));
  if (child.pid !== undefined) {
    killGroupsOnExit();
    liveGroups.add(child);
  }

  const link: Link & { pid?: number } = {
    name,
    pid: child.pid,
    get exitCause() {
      return exitCause;
    },
    send(message: JSONRPCMessage) {
      // A spawn that failed has no pid; its 'error' event reports the cause through onexit.
      if (child.pid === undefined && !exited) return;
      if (exited || !child.stdin.writable) throw new Error(`${name} is not running`);
      child.stdin.write(serializeMessage(message));
      const unread = child.stdin.writableLength;
      if (unread > MAX_STDIN_BACKLOG_BYTES) stoppedReading(`${unread} bytes unread`, { unread });
    },
    async close() {
      // Down already (its group was killed): resolve once the child is gone, as promised.
      if (exited) return exitedPromise;
      closing = true;
      child.stdin.end();
      signalGroup(child, "SIGTERM");
      const timer = setTimeout(() => signalGroup(child, "SIGKILL"), KILL_GRACE_MS);
      await exitedPromise;
      clearTimeout(timer);
      // Grandchildren may outlive the leader; the group gets a final SIGKILL.
      signalGroup(child, "SIGKILL");
    },
  };

  const down = (cause: string) => {
    if (exited) return;
    exited = true;
    exitCause = cause;
    signalGroup(child, "SIGKILL");
    liveGroups.delete(child);
    link.onexit?.(cause);
  };

  /** The child takes no more input: it goes down and is restarted, failing its calls. */
  const stoppedReading = (why: string, fields: Record<string, unknown>) => {
    log.error(fields, "child stopped reading its input; stopping it");
    down(`stopped reading its input (${why})`);
  };

  child.stdout.on("data", (chunk: Buffer) => {
    if (unreadable) return;
    try {
      buffer.append(chunk);
    } catch (error) {
      // The SDK's ReadBuffer holds at most 10 MiB without a newline. A message that large cannot
      // be read, so the child's calls cannot be answered: it goes down and is restarted, and its
      // calls in flight fail with this cause.
      log.error({ err: error }, "child wrote a message too large to read; stopping it");
      unreadable = true;
      down(`wrote a message too large to read (${errorText(error)})`);
      return;
    }
    for (;;) {
      let message: JSONRPCMessage | null;
      try {
        message = buffer.readMessage();
      } catch (error) {
        log.warn({ err: error }, "child wrote a line that is not JSON-RPC; skipped");
        continue;
      }
      if (message === null) break;
      try {
        link.onmessage?.(message);
      } catch (error) {
        // However a child's message trips its handling, it costs that message, never the server.
        log.error({ err: error }, "could not handle a message of the child; dropped");
      }
    }
  });
  child.stderr.setEncoding("utf8");
  // Each chunk is searched once, and a line's unfinished start is kept only up to what its log
  // entry shows: stderr without newlines (progress bars) costs linear time and bounded memory.
  child.stderr.on("data", (text: string) => {
    let start = 0;
    for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
      const line = stderrRest + text.slice(start, Math.min(end, start + MAX_LOG_LINE));
      stderrRest = "";
      if (line.trim() !== "") log.info({ stream: "stderr" }, line.slice(0, MAX_LOG_LINE));
      start = end + 1;
    }
    if (stderrRest.length < MAX_LOG_LINE) {
      stderrRest += text.slice(start, start + MAX_LOG_LINE - stderrRest.length);
    }
  });
  // A child that closed its stdin but lives on (EPIPE) takes no more requests, and those written
  // to it would wait for answers that cannot come: it goes down and is restarted, failing its calls.
  child.stdin.on("error", (error) => {
    if (closing || exited) {
      log.debug({ err: error }, "child stdin closed");
      return;
    }
    setTimeout(() => {
      if (exited || closing) return;
      stoppedReading(errorText(error), { err: error });
    }, STDIN_FAILURE_GRACE_MS).unref();
  });
  // A child that closed its stdout but lives on can answer nothing more: its calls would wait for
  // their timeouts and every later one too. It goes down and is restarted, failing its calls.
  child.stdout.once("end", () => {
    setTimeout(() => {
      if (exited || closing) return;
      log.error("child closed its output but still runs; stopping it");
      down("closed its output (stdout) while still running");
    }, STDIN_FAILURE_GRACE_MS).unref();
  });
  child.on("error", (error) => down(`could not run ${JSON.stringify(command.command)}: ${error.message}`));
  child.on("exit", (code, signal) => down(describeExit(code, signal)));
  return link;
}
