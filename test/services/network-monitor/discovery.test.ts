/**
 * Discovery against a Consul-API test double (a real HTTP server on 127.0.0.1): services that
 * appear in or leave the catalog appear in or leave `/api/services`, through blocking queries;
 * when Consul fails, the last-known targets stay and retries back off, bounded.
 */
import { once } from "node:events";
import type { MonitorApp } from "../../../services/network-monitor/src/app";
import type { ConsulDiscovery } from "../../../services/network-monitor/src/discovery";
import type { ServicesView } from "../../../services/network-monitor/src/views";
import { ManualClock } from "../../helpers/monitor-clock";
import { monitorApp } from "../../helpers/monitor-app";
import { ConsulCatalogDouble } from "../../helpers/consul-catalog-double";
import { healthy, McpTarget } from "../../helpers/monitor-targets";
import { capturingLogger } from "../../helpers/log-capture";
import type { Logger } from "@mcp-platform/shared";
import { MAX_CONSUL_ANSWER_BYTES } from "@mcp-platform/shared";

describe("discovery from a Consul catalog double", () => {
  let clock: ManualClock;
  let consul: ConsulCatalogDouble;
  let files: McpTarget;
  let subject: MonitorApp;
  let discovery: ConsulDiscovery;
  let logger: Logger;
  let lines: Record<string, unknown>[];

  beforeEach(async () => {
    clock = new ManualClock();
    consul = await ConsulCatalogDouble.start();
    files = await McpTarget.start(healthy());
    consul.setService("mcp-files", [{ id: "mcp-files-1", address: "127.0.0.1", port: files.port }]);
    ({ logger, lines } = capturingLogger("warn"));
    subject = monitorApp(
      { CONSUL_HTTP_ADDR: consul.url },
      {
        clock,
        schedule: false,
        discovery: { minGapMs: 0, backoff: { baseDelayMs: 1000, maxDelayMs: 4000 } },
      },
      logger,
    );
    if (subject.discovery === undefined) throw new Error("discovery should be on with CONSUL_HTTP_ADDR");
    discovery = subject.discovery;
    // WHEN the app becomes ready, discovery reads the catalog once without blocking
    const synced = once(discovery, "synced");
    await subject.app.ready();
    await synced;
  });

  afterEach(async () => {
    await subject.app.close();
    await Promise.all([consul.close(), files.close()]);
  });

  async function services(): Promise<ServicesView> {
    return (await subject.app.inject({ method: "GET", url: "/api/services" })).json() as ServicesView;
  }

  /** name → [status, instance ids] of every service shown. */
  async function shown(): Promise<Record<string, [string, string[]]>> {
    return Object.fromEntries(
      (await services()).services.map((s) => [s.name, [s.status, s.instances.map((i) => i.id)]]),
    );
  }

  /** Makes a catalog change and waits for discovery to sync it. */
  async function change(apply: () => void): Promise<void> {
    await consul.waitForHeldQuery();
    const synced = once(discovery, "synced");
    apply();
    await synced;
  }

  it("shows services as they appear in and leave the catalog", async () => {
    // THEN the catalog's service shows, next to Consul itself (probed through its HTTP API)
    expect(await shown()).toStrictEqual({
      consul: ["unknown", ["consul"]],
      "mcp-files": ["unknown", ["mcp-files-1"]],
    });

    // WHEN a round probes them THEN both are up (mcp-files through a real MCP session)
    await subject.monitor.tick();
    const view = await services();
    expect(
      view.services.map((s) => [s.name, s.status, s.instances[0]?.checks.map((c) => c.kind)]),
    ).toStrictEqual([
      ["consul", "up", ["tcp", "http"]],
      ["mcp-files", "up", ["tcp", "http", "mcp"]],
    ]);
    expect(view.services[1]?.instances[0]?.consulStatus).toStrictEqual("passing");

    // WHEN a router registers with two instances, one of them failing its Consul check
    await change(() =>
      consul.setService("router", [
        { id: "router-a", address: "127.0.0.1", port: files.port, node: "node-1" },
        { id: "router-b", address: "127.0.0.1", port: files.port, node: "node-2", status: "critical" },
      ]),
    );

    // THEN it appears with both instances, not yet probed
    expect(await shown()).toStrictEqual({
      consul: ["up", ["consul"]],
      "mcp-files": ["up", ["mcp-files-1"]],
      router: ["unknown", ["router-a", "router-b"]],
    });
    expect((await services()).services[2]?.instances.map((i) => i.consulStatus)).toStrictEqual([
      "passing",
      "critical",
    ]);

    // WHEN mcp-files deregisters
    await change(() => consul.removeService("mcp-files"));

    // THEN it is gone from /api/services
    expect(await shown()).toStrictEqual({
      consul: ["up", ["consul"]],
      router: ["unknown", ["router-a", "router-b"]],
    });

    // AND every catalog read after the first was a blocking query on the index last seen
    await consul.waitForHeldQuery();
    expect(
      consul.requests.filter((r) => r.path === "/v1/catalog/services").map((r) => r.query),
    ).toStrictEqual(["", "index=2&wait=55s", "index=3&wait=55s", "index=4&wait=55s"]);
  });

  it("skips an instance registered without a port, keeping the others, and logs it once", async () => {
    // WHEN a router registers two instances, one without a port (Consul's 0), and the catalog
    // then changes twice more
    await change(() =>
      consul.setService("router", [
        { id: "router-a", address: "127.0.0.1", port: files.port },
        { id: "router-b", address: "127.0.0.1", port: 0 },
      ]),
    );
    await change(() => consul.setService("web", [{ id: "web-1", address: "127.0.0.1", port: files.port }]));
    await change(() => consul.removeService("web"));

    // THEN the usable instance shows next to the other services, and the skip was logged once
    expect(await shown()).toStrictEqual({
      consul: ["unknown", ["consul"]],
      "mcp-files": ["unknown", ["mcp-files-1"]],
      router: ["unknown", ["router-a"]],
    });
    expect(
      lines.filter((l) => l.msg === "Consul instance skipped: not usable").map((l) => [l.service, l.id]),
    ).toStrictEqual([["router", "router-b"]]);
  });

  it("keeps the last-known targets while Consul fails, retrying with bounded backoff", async () => {
    // GIVEN discovery waiting on a blocking query
    await consul.waitForHeldQuery();

    // WHEN Consul starts failing (its held query answers 500), and retries come due
    const failures: unknown[] = [];
    let failed = once(discovery, "failed");
    consul.failWith(500);
    failures.push((await failed)[0]);
    for (const wait of [1000, 2000, 4000]) {
      failed = once(discovery, "failed");
      clock.advance(wait);
      failures.push((await failed)[0]);
    }

    // THEN each retry waited twice as long as the one before, up to the 4 s cap
    const error = "GET /v1/catalog/services: HTTP 500: rpc error: No cluster leader";
    expect(failures).toStrictEqual([
      { attempt: 1, error, retryInMs: 1000 },
      { attempt: 2, error, retryInMs: 2000 },
      { attempt: 3, error, retryInMs: 4000 },
      { attempt: 4, error, retryInMs: 4000 },
    ]);
    // AND the targets Consul last reported are still shown
    expect(Object.keys(await shown())).toStrictEqual(["consul", "mcp-files"]);

    // WHEN Consul recovers, without mcp-files, and the next retry comes due
    consul.removeService("mcp-files");
    consul.failWith(undefined);
    const synced = once(discovery, "synced");
    clock.advance(4000);
    await synced;

    // THEN the monitor follows the catalog again
    expect(Object.keys(await shown())).toStrictEqual(["consul"]);
  });

  it("fails a read that Consul answers without end, having read a bounded amount", async () => {
    // GIVEN discovery waiting on a blocking query
    await consul.waitForHeldQuery();

    // WHEN Consul answers it with 200 and a body that never ends
    const failed = once(discovery, "failed");
    consul.failWith("endless");

    // THEN the read fails on its size, what Consul could write stays within a few times the
    // limit, and the last-known targets are still shown
    expect((await failed)[0]).toStrictEqual({
      attempt: 1,
      error: `the answer exceeded ${MAX_CONSUL_ANSWER_BYTES} bytes`,
      retryInMs: 1000,
    });
    expect(consul.endlessBytes).toBeLessThan(4 * MAX_CONSUL_ANSWER_BYTES);
    expect(Object.keys(await shown())).toStrictEqual(["consul", "mcp-files"]);
  });
});
