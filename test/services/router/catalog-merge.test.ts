import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import fc from "fast-check";
import type { ServiceListing } from "../../../services/router/src/catalog/merge";
import {
  changedLists,
  EMPTY_LISTING,
  mergeCatalog,
  mergedName,
  resourceOwner,
} from "../../../services/router/src/catalog/merge";

const tool = (name: string, description = name): Tool => ({
  name,
  description,
  inputSchema: { type: "object" },
});

const listing = (partial: Partial<ServiceListing>): ServiceListing => ({ ...EMPTY_LISTING, ...partial });

describe("mergeCatalog", () => {
  it("names tools and prompts <service>__<name>, by service id then name, and routes them back", () => {
    // GIVEN two services listed in no particular order
    const listings = new Map([
      ["memory", listing({ tools: [tool("search_nodes"), tool("create_entities")] })],
      ["files", listing({ tools: [tool("read_file")], prompts: [{ name: "summarize" }] })],
    ]);

    // WHEN merged
    const catalog = mergeCatalog(listings);

    // THEN the order is stable and every name leads back to its service's own name
    expect(catalog.tools.map((t) => t.name)).toStrictEqual([
      "files__read_file",
      "memory__create_entities",
      "memory__search_nodes",
    ]);
    expect(catalog.tools[0]).toStrictEqual({ ...tool("read_file"), name: "files__read_file" });
    expect(catalog.prompts).toStrictEqual([{ name: "files__summarize" }]);
    expect(catalog.toolRoutes.get("memory__search_nodes")).toStrictEqual({
      service: "memory",
      name: "search_nodes",
    });
    expect(catalog.collisions).toStrictEqual([]);
  });

  it("gives the same catalog, in the same order, whatever order the listings come in", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/), { minLength: 1, maxLength: 5 }),
        fc.array(fc.stringMatching(/^[a-z_]{1,10}$/), { maxLength: 6 }),
        (services, names) => {
          const entries = services.map((s): [string, ServiceListing] => [
            s,
            listing({ tools: [...new Set(names)].map((n) => tool(n)) }),
          ]);
          const forward = mergeCatalog(new Map(entries));
          const backward = mergeCatalog(new Map([...entries].reverse()));
          expect(backward.tools).toStrictEqual(forward.tools);
          expect(backward.digests).toStrictEqual(forward.digests);
        },
      ),
    );
  });

  it("rejects a name or URI already taken: the later entry is dropped and reported", () => {
    // GIVEN a service listing a tool twice, and two services with the same resource URI
    const listings = new Map([
      [
        "b",
        listing({
          tools: [tool("x", "first"), tool("x", "second")],
          resources: [{ uri: "doc://a", name: "b-a" }],
        }),
      ],
      [
        "a",
        listing({
          resources: [{ uri: "doc://a", name: "a-a" }],
          resourceTemplates: [{ uriTemplate: "doc://{id}", name: "t" }],
        }),
      ],
    ]);

    // WHEN merged
    const catalog = mergeCatalog(listings);

    // THEN the first (in catalog order) keeps each name and the others are reported
    expect(catalog.tools).toStrictEqual([{ ...tool("x", "first"), name: "b__x" }]);
    expect(catalog.resources).toStrictEqual([{ uri: "doc://a", name: "a-a" }]);
    expect(catalog.collisions).toStrictEqual([
      { kind: "tools", key: "b__x", service: "b", keptFrom: "b" },
      { kind: "resources", key: "doc://a", service: "b", keptFrom: "a" },
    ]);
  });

  it("tells a real change from a re-list that found the same thing", () => {
    const one = new Map([["files", listing({ tools: [tool("read_file")] })]]);
    const same = new Map([["files", listing({ tools: [tool("read_file")] })]]);
    const changed = new Map([["files", listing({ tools: [tool("read_file", "now reads faster")] })]]);
    const more = new Map([...one, ["memory", listing({ prompts: [{ name: "p" }] })]]);
    expect([
      changedLists(mergeCatalog(one), mergeCatalog(same)),
      changedLists(mergeCatalog(one), mergeCatalog(changed)),
      changedLists(mergeCatalog(one), mergeCatalog(more)),
      changedLists(mergeCatalog(more), mergeCatalog(new Map())),
    ]).toStrictEqual([[], ["tools"], ["prompts"], ["tools", "prompts"]]);
  });

  it("finds a resource's service by listed URI first, then by template", () => {
    const catalog = mergeCatalog(
      new Map([
        ["docs", listing({ resources: [{ uri: "demo://readme", name: "r" }] })],
        [
          "everything",
          listing({
            resourceTemplates: [{ uriTemplate: "demo://resource/dynamic/text/{index}", name: "t" }],
          }),
        ],
      ]),
    );
    expect([
      resourceOwner(catalog, "demo://readme"),
      resourceOwner(catalog, "demo://resource/dynamic/text/7"),
      resourceOwner(catalog, "other://x"),
    ]).toStrictEqual(["docs", "everything", undefined]);
  });

  it("joins names with a separator no service id can contain", () => {
    expect(mergedName("files", "read__file")).toBe("files__read__file");
  });
});
