/**
 * The stdio link's handling of a child's output that is too large: a stdout message over the
 * SDK read buffer's limit, and stderr without newlines.
 */
import type { Link } from "../../../services/mcp-server/src/bridge/link";
import { startStdioLink } from "../../../services/mcp-server/src/bridge/stdio-link";
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
