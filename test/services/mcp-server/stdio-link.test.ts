/**
 * The stdio link's handling of a child's output that is too large (a stdout message over the
 * SDK read buffer's limit, stderr without newlines) or that ends while the child runs on, and of
 * a child that stops reading its input.
 */
import type { Link } from "../../../services/mcp-server/src/bridge/link";
import { MAX_STDIN_BACKLOG_BYTES, startStdioLink } from "../../../services/mcp-server/src/bridge/stdio-link";
import { awaitableLogger } from "../../helpers/router-app";

jest.setTimeout(30_000);

const links: Link[] = [];
afterEach(async () => {
  await Promise.all(links.splice(0).map((link) => link.close()));
});

/** A link to `node -e script`, with its log lines and its exit cause awaitable. */
function nodeChild(script: string) {
  const { logger, lines, waitForLog } = awaitableLogger();
  const link = startStdioLink("stdio[0]#1", { command: process.execPath, args: ["-e", script] }, logger);
  links.push(link);
  const down = new Promise<string>((resolve) => (link.onexit = resolve));
  return { link, lines, waitForLog, down };
}

/** Whether a process group still has a member. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("a stdio child's output", () => {
  it("a stdout message over the read limit stops the child with a clear cause, and nothing throws", async () => {
    // GIVEN a child that writes 11 MiB without a newline, then stays up
    const child = nodeChild(
      `process.stdout.write("x".repeat(11 * 1024 * 1024)); setInterval(() => {}, 1000);`,
    );

    // WHEN its output is read / THEN the link goes down saying why, and its process group is gone
    const cause = await child.down;
    expect(cause).toMatch(/^wrote a message too large to read \(.*10485760.*\)$/);
    expect(child.lines.filter((l) => l.level === "error").map((l) => l.msg)).toStrictEqual([
      "child wrote a message too large to read; stopping it",
    ]);
    await child.link.close();
    expect(groupAlive(child.link.pid!)).toBe(false);
  });

  it("a child that closes its stdout and lives on is stopped with a clear cause", async () => {
    // GIVEN a child that closes its stdout, says so on stderr, and stays up
    const child = nodeChild(
      `require("node:fs").closeSync(1); console.error("closed"); setInterval(() => {}, 1000);`,
    );

    // WHEN its output ends / THEN the link goes down saying why (its calls fail with this cause,
    // instead of waiting for answers that cannot come), and its process group is gone
    expect(await child.down).toBe("closed its output (stdout) while still running");
    expect(child.lines.filter((l) => l.level === "error").map((l) => l.msg)).toStrictEqual([
      "child closed its output but still runs; stopping it",
    ]);
    await child.link.close();
    expect(groupAlive(child.link.pid!)).toBe(false);
  });

  it("a message whose handling throws is logged and dropped; the next ones are handled", async () => {
    // GIVEN a child that writes two notifications, and a handler that throws on the first
    const child = nodeChild(`
      const line = (n) => JSON.stringify({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: n } });
      process.stdout.write(line(1) + "\\n" + line(2) + "\\n");
      setInterval(() => {}, 1000);
    `);
    const handled: unknown[] = [];
    const second = new Promise<void>((resolve) => {
      child.link.onmessage = (message) => {
        const data = (message as unknown as { params: { data: number } }).params.data;
        if (data === 1) throw new Error("handler bug");
        handled.push(data);
        resolve();
      };
    });

    // WHEN both are read / THEN the second is handled and the first's failure logged
    await second;
    expect([handled, child.lines.filter((l) => l.level === "error").map((l) => l.msg)]).toStrictEqual([
      [2],
      ["could not handle a message of the child; dropped"],
    ]);
  });

  it("a stderr line of any length is logged once, cut to 2,000 characters", async () => {
    // GIVEN a child that writes 200 KB of stderr in many chunks with no newline, then two lines
    const child = nodeChild(`
      for (let i = 0; i < 200; i++) process.stderr.write("a".repeat(1000));
      process.stderr.write("b\\nnext\\n");
      setInterval(() => {}, 1000);
    `);

    // WHEN it has been read / THEN the long line is logged once, cut to 2,000 characters
    await child.waitForLog((l) => l.msg === "next");
    expect(child.lines.filter((l) => l.stream === "stderr").map((l) => l.msg)).toStrictEqual([
      "a".repeat(2000),
      "next",
    ]);
  });
});

describe("a stdio child's input", () => {
  it("a child that closes its stdin and lives on is stopped with a clear cause", async () => {
    // GIVEN a child that closes its stdin, says so on stderr, and stays up
    const child = nodeChild(
      `require("node:fs").closeSync(0); console.error("closed"); setInterval(() => {}, 1000);`,
    );
    await child.waitForLog((l) => l.msg === "closed");

    // WHEN a request is written to it
    child.link.send({ jsonrpc: "2.0", id: 1, method: "tools/list" });

    // THEN the link goes down saying why (its calls fail with this cause), and its group is gone
    expect(await child.down).toMatch(/^stopped reading its input \(.*EPIPE.*\)$/);
    expect(child.lines.filter((l) => l.level === "error").map((l) => l.msg)).toStrictEqual([
      "child stopped reading its input; stopping it",
    ]);
    await child.link.close();
    expect(groupAlive(child.link.pid!)).toBe(false);
  });

  it("a child that stops reading its stdin is stopped once too much waits for it", async () => {
    // GIVEN a child that never reads its stdin and stays up
    const child = nodeChild(`console.error("up"); setInterval(() => {}, 1000);`);
    await child.waitForLog((l) => l.msg === "up");

    // WHEN more than the backlog limit is written to it
    child.link.send({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "x", arguments: { pad: "x".repeat(MAX_STDIN_BACKLOG_BYTES) } },
    });

    // THEN the link goes down saying why, and its group is gone
    expect(await child.down).toMatch(/^stopped reading its input \(\d+ bytes unread\)$/);
    await child.link.close();
    expect(groupAlive(child.link.pid!)).toBe(false);
  });

  it("a child that exits is reported by its exit status, even when a write to it failed first", async () => {
    // GIVEN a child that closes its stdin, then exits with code 3 a moment later
    const child = nodeChild(
      `require("node:fs").closeSync(0); console.error("closed"); setTimeout(() => process.exit(3), 100);`,
    );
    await child.waitForLog((l) => l.msg === "closed");

    // WHEN a request is written to it before it exits
    child.link.send({ jsonrpc: "2.0", id: 1, method: "tools/list" });

    // THEN the cause is its exit, not the failed write
    expect(await child.down).toBe("exited with code 3");
  });
});
