import type { Recorded } from "../../helpers/pulumi-mocks";
import { ofType, runProgram, settled, valueOf } from "../../helpers/pulumi-mocks";
import type * as Configs from "../../helpers/configs";
import { ADDED_PACKAGE as PACKAGE, withAddedService } from "../../helpers/configs";
import { stackConfigMap } from "../../helpers/stack-files";

// One program run per file: this is the dev half; added-service-prod.test.ts is the prod half.
// The user locks the added service's package (`npm run stdio:lock`) before `pulumi up`; without
// that the program refuses, which test/infra/stdio-lock.test.ts shows.
jest.mock("../../../infra/stdio-lock", () =>
  jest.requireActual<typeof Configs>("../../helpers/configs").stdioLockWithAddedService(),
);
const CONTAINER = "docker:index/container:Container";

let resources: Recorded[];
let program: Record<string, unknown>;
const container = (name: string) => ofType(resources, CONTAINER).find((r) => r.inputs.name === name)?.inputs;

beforeAll(async () => {
  // GIVEN the dev config with one more service in its catalog / WHEN the program runs
  ({ program, resources } = await runProgram("dev", withAddedService(stackConfigMap("dev"))));
  await settled();
});

describe("a service added to config appears in the dev stack (mocked)", () => {
  test("it runs its replicas on mcp-internal only, with the contract's environment", async () => {
    expect(await valueOf(program.containers as string[])).toEqual(
      expect.arrayContaining(["mcp-search-1", "mcp-search-2"]),
    );
    expect(container("mcp-search-2")?.networksAdvanced).toStrictEqual([
      { name: "mcp-internal", aliases: ["mcp-search"] },
    ]);
    expect(container("mcp-search-1")?.envs).toStrictEqual([
      "HOST=0.0.0.0",
      "PORT=11103",
      "SERVICE_NAME=mcp-search",
      "CONSUL_HTTP_ADDR=http://consul:8500",
      "LOG_LEVEL=info",
      "MCP_ALLOWED_ORIGINS=http://localhost:3000,http://127.0.0.1:3000",
      'MCP_SERVER={"command":"mcp-server-sequential-thinking","args":[]}',
      "MCP_BRIDGE_PROCESSES=1",
    ]);
  });

  test("HAProxy publishes and routes its direct port, and the mcp-server image bakes in its package", async () => {
    expect(container("haproxy")?.ports.map((p: { external: number }) => p.external)).toContain(11103);
    expect(container("haproxy")?.uploads[0].content).toContain(
      "server-template mcp-search- 10 _mcp-search._tcp.service.consul resolvers consul",
    );
    const image = ofType(resources, "docker:index/image:Image").find((i) => i.name.endsWith("-mcp-server"));
    expect(image?.inputs.build.args.MCP_STDIO_PACKAGES.split(" ")).toContain(PACKAGE);
    expect(await valueOf(program.serviceUrls as Record<string, string>)).toHaveProperty(
      "search",
      "http://127.0.0.1:11103/mcp",
    );
  });
});
