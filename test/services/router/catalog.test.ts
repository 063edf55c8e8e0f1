import { once } from "node:events";
import { Registry } from "prom-client";
import type { ListName } from "../../../services/router/src/catalog/merge";
import { Catalog } from "../../../services/router/src/catalog/catalog";
import { RouterMetrics } from "../../../services/router/src/metrics";
import { Upstreams } from "../../../services/router/src/upstream/upstreams";
import { silentLogger } from "../../helpers/log-capture";
import { FakeMcpServer, jsonRpcMethod } from "../../helpers/router-upstreams";

let fake: FakeMcpServer;
let upstreams: Upstreams;
let catalog: Catalog;
let announced: ListName[][];

beforeEach(async () => {
  fake = await FakeMcpServer.start();
  const metrics = new RouterMetrics(new Registry());
  upstreams = new Upstreams({
    logger: silentLogger(),
    metrics,
    ejection: { failuresToEject: 3, baseMs: 60_000, maxMs: 60_000 },
  });
  catalog = new Catalog({ upstreams, logger: silentLogger(), metrics, refreshMs: 60_000 });
  announced = [];
  catalog.on("changed", (lists) => announced.push(lists));
});

afterEach(async () => {
  catalog.stop();
  await upstreams.close();
  await fake.close();
});

describe("Catalog", () => {
  it("lists every available service through the router's own session, then is ready", async () => {
    // GIVEN a service with one instance
    upstreams.update(new Map([["fake", [fake.url]]]));

    // WHEN synced
    await catalog.sync();

    // THEN its tools are in the catalog under their merged names, and nothing was announced
    expect([catalog.ready, catalog.current.tools.map((t) => t.name), announced]).toStrictEqual([
      true,
      ["fake__probe"],
      [],
    ]);
  });

  it("announces a list only when a re-list finds something different", async () => {
    // GIVEN a ready catalog
    upstreams.update(new Map([["fake", [fake.url]]]));
    await catalog.sync();

    // WHEN the service is re-listed unchanged, then with a new tool, then unchanged again
    await catalog.refresh("fake");
    const afterSame = announced.length;
    fake.tools = [...fake.tools, { name: "added", inputSchema: { type: "object" } }];
    await catalog.refresh("fake");
    await catalog.sync();

    // THEN only the real change was announced
    expect([afterSame, announced]).toStrictEqual([0, [["tools"]]]);
    expect(catalog.current.tools.map((t) => t.name)).toStrictEqual(["fake__added", "fake__probe"]);
  });

  it("re-lists a service when one of its instances says its tools changed", async () => {
    // GIVEN a ready catalog, whose upstream session listens on the instance's stream
    upstreams.update(new Map([["fake", [fake.url]]]));
    await catalog.sync();
    await fake.streamOpen();

    // WHEN the instance's tools change and it says so
    fake.tools = [{ name: "renamed", inputSchema: { type: "object" } }];
    const changed = once(catalog, "changed");
    fake.announce("notifications/tools/list_changed");

    // THEN the catalog re-listed it by itself and announced the change
    expect(await changed).toStrictEqual([["tools"]]);
    expect(catalog.current.tools.map((t) => t.name)).toStrictEqual(["fake__renamed"]);
  });

  it("re-lists a service once more, after a pause, however often it says its tools changed meanwhile", async () => {
    // GIVEN a ready catalog whose pause between two listings in a row the test ends
    catalog.stop();
    let pauseAsked!: () => void;
    const asked = new Promise<void>((resolve) => (pauseAsked = resolve));
    let endPause!: () => void;
    const metrics = new RouterMetrics(new Registry());
    catalog = new Catalog({
      upstreams,
      logger: silentLogger(),
      metrics,
      refreshMs: 60_000,
      pause: () => {
        pauseAsked();
        return new Promise<void>((resolve) => (endPause = resolve));
      },
    });
    upstreams.update(new Map([["fake", [fake.url]]]));
    await catalog.sync();
    await fake.streamOpen();
    let heard = 0;
    const allHeard = new Promise<void>((resolve) =>
      upstreams.on("listChanged", () => {
        if (++heard === 20) resolve();
      }),
    );

    // WHEN the instance's tools change and it says so 20 times in a row
    fake.tools = [{ name: "renamed", inputSchema: { type: "object" } }];
    for (let i = 0; i < 20; i++) fake.announce("notifications/tools/list_changed");
    await allHeard;
    await asked;

    // THEN the service was listed once for all of them, and is listed once more only after the
    // pause
    const listings = () => fake.requests.filter((r) => jsonRpcMethod(r) === "tools/list").length;
    expect([listings(), catalog.current.tools.map((t) => t.name)]).toStrictEqual([2, ["fake__renamed"]]);
    endPause();
    await fake.received("tools/list", 3);
  });

  it("leaves out entries the MCP schema refuses and keeps the rest of the service's list", async () => {
    // GIVEN a service listing a good tool, one without an input schema and one without a name
    fake.tools = [
      { name: "good", inputSchema: { type: "object" } },
      { name: "no-schema" },
      { inputSchema: { type: "object" } },
    ] as FakeMcpServer["tools"];
    upstreams.update(new Map([["fake", [fake.url]]]));

    // WHEN synced
    await catalog.sync();

    // THEN only the good tool is in the catalog
    expect(catalog.current.tools.map((t) => t.name)).toStrictEqual(["fake__good"]);
  });

  it("drops a service's entries when it has no instance left, and announces it", async () => {
    // GIVEN a ready catalog with one service
    upstreams.update(new Map([["fake", [fake.url]]]));
    await catalog.sync();

    // WHEN discovery no longer lists any instance of it
    upstreams.update(new Map());

    // THEN its tools left the catalog at once
    expect([catalog.current.tools, announced]).toStrictEqual([[], [["tools"]]]);
  });

  it("lists all pages of a service from one instance, whose cursors the others need not know", async () => {
    // GIVEN a service with two instances that page their three tools one at a time, each with
    // cursors only it understands
    const other = await FakeMcpServer.start();
    try {
      const tools = ["a", "b", "c"].map((name) => ({ name, inputSchema: { type: "object" as const } }));
      for (const instance of [fake, other]) {
        instance.tools = tools;
        instance.pageSize = 1;
      }
      upstreams.update(new Map([["fake", [fake.url, other.url]]]));

      // WHEN the catalog lists the service
      await catalog.sync();

      // THEN it holds all three tools, every page asked of the same instance
      const pagesAsked = [fake, other].map(
        (instance) => instance.requests.filter((r) => jsonRpcMethod(r) === "tools/list").length,
      );
      expect(catalog.current.tools.map((t) => t.name)).toStrictEqual(["fake__a", "fake__b", "fake__c"]);
      expect([...pagesAsked].sort()).toStrictEqual([0, 3]);
    } finally {
      await other.close();
    }
  });
});
