/**
 * The Host check of every service's request guard (DNS-rebinding protection): a Host that is not
 * well formed is refused as malformed before any allow-list is consulted.
 */
import { RequestGuard, wellFormedHost } from "../../../services/shared/src/request-guard";

describe("a Host header", () => {
  it.each([
    "localhost",
    "localhost:3000",
    "LOCALHOST:65535",
    "localhost:",
    "127.0.0.1",
    "127.0.0.1:80",
    "[::1]",
    "[::1]:3000",
    "mcp-echo:11107",
    "mcp_echo",
    "router.mcp-internal.svc.cluster.local",
    "example.com.",
  ])("%j is well formed", (host) => {
    expect(wellFormedHost(host)).toBe(true);
  });

  it.each([
    "localhost:abc",
    "localhost:99999",
    "localhost:65536",
    "localhost:123456",
    "localhost::80",
    "-a",
    "a-",
    "a.-b",
    "a..b",
    ".a",
    "a b",
    "[zz",
    "[::1]x",
    "[::1]:x",
    "",
  ])("%j is not, and the guard refuses it as malformed", (host) => {
    const guard = new RequestGuard({ allowedOrigins: [], allowedHosts: [] });
    expect([wellFormedHost(host), guard.refusal({ host })]).toStrictEqual([
      false,
      host === "" ? "missing Host header" : `Host ${JSON.stringify(host)} is malformed`,
    ]);
  });
});
