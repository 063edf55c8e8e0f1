import { once } from "node:events";
import { MAX_CONSUL_ANSWER_BYTES } from "@mcp-platform/shared";
import type { DiscoveryView } from "../../../services/router/src/discovery/discovery";
import { Discovery, mcpServiceIds, parseHealth } from "../../../services/router/src/discovery/discovery";
import { nextIndex } from "../../../services/router/src/discovery/consul-watch";
import { capturingLogger, silentLogger } from "../../helpers/log-capture";
import { ConsulCatalogDouble } from "../../helpers/consul-catalog-double";

const TIMING = {
  waitSeconds: 5,
  minGapMs: 0,
  backoff: { baseDelayMs: 10, maxDelayMs: 40 },
  requestTimeoutMs: 2_000,
};

let consul: ConsulCatalogDouble;
let discovery: Discovery | undefined;

beforeEach(async () => {
  consul = await ConsulCatalogDouble.start();
});

afterEach(async () => {
  await discovery?.stop();
  discovery = undefined;
  await consul.close();
});

/** A discovery of `consul` (plus static config), started. */
function follow(extra: Partial<ConstructorParameters<typeof Discovery>[0]> = {}): Discovery {
  discovery = new Discovery({
    logger: silentLogger(),
    consul: { address: consul.url, selfName: "router", timing: TIMING },
    ...extra,
  });
  discovery.start();
  return discovery;
}

/** The next view `d` publishes that satisfies `predicate`. */
async function viewWhere(d: Discovery, predicate: (view: DiscoveryView) => boolean): Promise<DiscoveryView> {
  if (d.current !== undefined && predicate(d.current)) return d.current;
  for (;;) {
    const [view] = await once(d, "changed");
    if (predicate(view as DiscoveryView)) return view as DiscoveryView;
  }
}

const asObject = (view: DiscoveryView) => ({
  services: Object.fromEntries(view.services),
  peers: view.peers,
});

describe("Discovery", () => {
  it("without Consul, publishes the static services and peers at once", () => {
    // GIVEN static config only
    discovery = new Discovery({
      logger: silentLogger(),
      staticServices: { files: ["http://127.0.0.1:2/mcp", "http://127.0.0.1:1/mcp"] },
      staticPeers: ["http://127.0.0.1:3001", "http://127.0.0.1:3000"],
    });

    // WHEN started
    discovery.start();

    // THEN the view is there, sorted
    expect(asObject(discovery.current as DiscoveryView)).toStrictEqual({
      services: { files: ["http://127.0.0.1:1/mcp", "http://127.0.0.1:2/mcp"] },
      peers: ["http://127.0.0.1:3000", "http://127.0.0.1:3001"],
    });
  });

  it("reads the passing instances of mcp-* services from Consul, adding the static ones", async () => {
    // GIVEN Consul with two MCP services (one instance critical), another service and the routers
    consul.setService("mcp-files", [
      { address: "10.0.0.7", port: 11101 },
      { address: "10.0.0.8", port: 11101, status: "critical" },
    ]);
    consul.setService("mcp-memory", [{ address: "10.0.0.9", port: 11105 }]);
    consul.setService("network-monitor", [{ address: "10.0.0.2", port: 11091 }]);
    consul.setService("router", [{ address: "10.0.0.3", port: 3000 }]);

    // WHEN followed, with one static service too
    const d = follow({ staticServices: { echo: ["http://127.0.0.1:11107/mcp"] } });
    const view = await viewWhere(d, (v) => v.services.size === 3 && v.peers.length === 1);

    // THEN only the passing instances of mcp-* services are there, ids without the prefix
    expect(asObject(view)).toStrictEqual({
      services: {
        echo: ["http://127.0.0.1:11107/mcp"],
        files: ["http://10.0.0.7:11101/mcp"],
        memory: ["http://10.0.0.9:11105/mcp"],
      },
      peers: ["http://10.0.0.3:3000"],
    });
    expect(
      consul.requests.some(
        (r) => r.path === "/v1/health/service/mcp-files" && r.params.get("passing") === "true",
      ),
    ).toBe(true);
  });

  it("follows changes with blocking queries", async () => {
    // GIVEN a discovery that has seen one instance and is now blocked on Consul
    consul.setService("mcp-files", [{ address: "10.0.0.7", port: 11101 }]);
    const d = follow();
    await viewWhere(d, (v) => v.services.size === 1);
    await once(consul, "held");

    // WHEN a second instance registers, then the service goes away
    consul.setService("mcp-files", [
      { address: "10.0.0.7", port: 11101 },
      { address: "10.0.0.8", port: 11101 },
    ]);
    const grown = await viewWhere(d, (v) => (v.services.get("files")?.length ?? 0) === 2);
    consul.removeService("mcp-files");
    const gone = await viewWhere(d, (v) => v.services.size === 0);

    // THEN each change reached the view, the second read of a query carrying the index
    expect(grown.services.get("files")).toStrictEqual([
      "http://10.0.0.7:11101/mcp",
      "http://10.0.0.8:11101/mcp",
    ]);
    expect(asObject(gone).services).toStrictEqual({});
    expect(consul.requests.some((r) => r.params.get("index") !== null && r.params.get("wait") === "5s")).toBe(
      true,
    );
  });

  it("keeps the last-known instances while Consul fails, says so once, and recovers", async () => {
    // GIVEN a discovery that knows one instance
    consul.setService("mcp-files", [{ address: "10.0.0.7", port: 11101 }]);
    const { logger, lines } = capturingLogger("info");
    const d = follow({ logger });
    const known = await viewWhere(d, (v) => v.services.size === 1);

    // WHEN Consul fails for several reads, then comes back with a change
    consul.failWith(500);
    await consul.waitForRequests(() => true, consul.requests.length + 6);
    const during = d.current;
    consul.failWith(undefined);
    consul.setService("mcp-files", [{ address: "10.0.0.8", port: 11101 }]);
    const after = await viewWhere(d, (v) => v.services.get("files")?.[0] === "http://10.0.0.8:11101/mcp");

    // THEN the view did not change during the outage, one warning per query said so, and
    // discovery recovered
    expect(during).toBe(known);
    const warnings = lines.filter(
      (l) => l.msg === "consul discovery failed; keeping the last-known instances",
    );
    expect(new Set(warnings.map((l) => l.level))).toStrictEqual(new Set(["warn"]));
    const queries = warnings.map((l) => String(l.query));
    expect(queries.length).toBeGreaterThan(0);
    expect(queries).toStrictEqual([...new Set(queries)]);
    expect(lines.some((l) => l.msg === "consul discovery recovered")).toBe(true);
    expect(asObject(after).services).toStrictEqual({ files: ["http://10.0.0.8:11101/mcp"] });
  });

  it("keeps the last-known instances while Consul answers without end, reading a bounded amount", async () => {
    // GIVEN a discovery that knows one instance
    consul.setService("mcp-files", [{ address: "10.0.0.7", port: 11101 }]);
    const { logger, lines } = capturingLogger("info");
    const d = follow({ logger });
    const known = await viewWhere(d, (v) => v.services.size === 1);

    // WHEN Consul answers its next reads with 200 and a body that never ends
    const before = consul.requests.length;
    consul.failWith("endless");
    await consul.waitForRequests(() => true, before + 4);
    const during = d.current;
    consul.failWith(undefined);

    // THEN each read failed on the size, the view stayed, and what Consul could write stayed
    // within a few times the limit per read
    expect(during).toBe(known);
    expect(
      lines.some(
        (l) =>
          l.msg === "consul discovery failed; keeping the last-known instances" &&
          String(l.err).includes(`the answer exceeded ${MAX_CONSUL_ANSWER_BYTES} bytes`),
      ),
    ).toBe(true);
    expect(consul.endlessBytes).toBeLessThan(4 * 4 * MAX_CONSUL_ANSWER_BYTES);
  });

  it("publishes nothing until Consul has answered", async () => {
    // GIVEN a Consul that fails from the start
    consul.failWith(503);

    // WHEN followed for a few reads
    const d = follow({ staticServices: { echo: ["http://127.0.0.1:1/mcp"] } });
    await consul.waitForRequests(() => true, 4);

    // THEN there is no view yet (the router reports not ready), not even the static part
    expect(d.current).toBeUndefined();
  });
});

describe("Consul answer parsing", () => {
  it("keeps passing instances, falling back to the node address", () => {
    expect(
      parseHealth([
        {
          Node: { Address: "10.0.0.1" },
          Service: { Address: "", Port: 80 },
          Checks: [{ Status: "passing" }],
        },
        { Node: { Address: "10.0.0.2" }, Service: { Address: "::1", Port: 81 }, Checks: null },
        {
          Node: { Address: "10.0.0.3" },
          Service: { Address: "10.0.0.3", Port: 82 },
          Checks: [{ Status: "warning" }],
        },
      ]),
    ).toStrictEqual(["http://10.0.0.1:80", "http://[::1]:81"]);
  });

  it("names MCP services by their id and skips ids the catalog cannot use", () => {
    expect(
      mcpServiceIds({ "mcp-files": [], "mcp-Bad_Id": [], router: [], consul: [], "mcp-echo": ["x"] }),
    ).toStrictEqual(["echo", "files"]);
  });

  it("follows Consul's index rules", () => {
    expect([
      nextIndex(5, "9"),
      nextIndex(9, "5"),
      nextIndex(0, null),
      nextIndex(0, "0"),
      nextIndex(3, "x"),
    ]).toStrictEqual([9, 0, 0, 1, 0]);
  });
});
