/**
 * The merged catalog, as a pure function of each service's listing (DESIGN "router"): tools and
 * prompts are named `<service>__<name>`, entries come in a stable order (service id, then name
 * or URI), and a name or URI that is already taken is rejected (the later entry is dropped and
 * reported). Resources keep their URIs, which are their identity; the router remembers which
 * service owns each one. A digest per list tells a real change from a re-list that found the
 * same thing, so clients hear `list_changed` only for the former.
 */
import { createHash } from "node:crypto";
import type { Prompt, Resource, ResourceTemplate, Tool } from "@modelcontextprotocol/sdk/types.js";
import { UriTemplate } from "@modelcontextprotocol/sdk/shared/uriTemplate.js";

/** Joins a service id and a tool or prompt name. Service ids never contain `_`. */
export const NAME_SEPARATOR = "__";

/** What one service offers. */
export interface ServiceListing {
  readonly tools: readonly Tool[];
  readonly prompts: readonly Prompt[];
  readonly resources: readonly Resource[];
  readonly resourceTemplates: readonly ResourceTemplate[];
}

/** An empty listing. */
export const EMPTY_LISTING: ServiceListing = { tools: [], prompts: [], resources: [], resourceTemplates: [] };

/** Where a merged name leads. */
export interface Route {
  readonly service: string;
  /** The name (or URI template) on the service. */
  readonly name: string;
}

/** The kinds of entries, as collisions and digests name them. */
export type EntryKind = "tools" | "prompts" | "resources" | "resourceTemplates";

/** An entry dropped because its name or URI was taken. */
export interface Collision {
  readonly kind: EntryKind;
  /** The merged name, URI or URI template. */
  readonly key: string;
  /** The service whose entry was dropped. */
  readonly service: string;
  /** The service whose entry kept the name. */
  readonly keptFrom: string;
}

/** The lists whose changes clients are told about. */
export type ListName = "tools" | "prompts" | "resources";

/** The merged catalog. */
export interface MergedCatalog {
  readonly tools: readonly Tool[];
  readonly prompts: readonly Prompt[];
  readonly resources: readonly Resource[];
  readonly resourceTemplates: readonly ResourceTemplate[];
  readonly toolRoutes: ReadonlyMap<string, Route>;
  readonly promptRoutes: ReadonlyMap<string, Route>;
  /** Resource URI → owning service. */
  readonly resourceRoutes: ReadonlyMap<string, string>;
  /** URI templates in catalog order, for matching URIs that are not listed. */
  readonly templateRoutes: readonly { readonly service: string; readonly template: string }[];
  readonly collisions: readonly Collision[];
  /** sha256 of each list as clients see it. */
  readonly digests: Readonly<Record<ListName, string>>;
}

/** `files` + `read_file` → `files__read_file`. */
export function mergedName(service: string, name: string): string {
  return `${service}${NAME_SEPARATOR}${name}`;
}

const byKey =
  <T>(key: (item: T) => string) =>
  (a: T, b: T): number => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };

const digest = (value: unknown): string => createHash("sha256").update(JSON.stringify(value)).digest("hex");

/** Merges listings (in any map order) into the catalog clients see. */
export function mergeCatalog(listings: ReadonlyMap<string, ServiceListing>): MergedCatalog {
  const services = [...listings.keys()].sort();
  const collisions: Collision[] = [];
  const tools: Tool[] = [];
  const prompts: Prompt[] = [];
  const resources: Resource[] = [];
  const resourceTemplates: ResourceTemplate[] = [];
  const toolRoutes = new Map<string, Route>();
  const promptRoutes = new Map<string, Route>();
  const resourceRoutes = new Map<string, string>();
  const templateOwners = new Map<string, string>();

  const claim = <V>(
    map: Map<string, V>,
    kind: EntryKind,
    key: string,
    service: string,
    value: V,
  ): boolean => {
    const taken = map.get(key);
    if (taken === undefined) {
      map.set(key, value);
      return true;
    }
    const keptFrom = typeof taken === "string" ? taken : (taken as Route).service;
    collisions.push({ kind, key, service, keptFrom });
    return false;
  };

  for (const service of services) {
    const listing = listings.get(service) ?? EMPTY_LISTING;
    for (const tool of [...listing.tools].sort(byKey((t) => t.name))) {
      const name = mergedName(service, tool.name);
      if (claim(toolRoutes, "tools", name, service, { service, name: tool.name }))
        tools.push({ ...tool, name });
    }
    for (const prompt of [...listing.prompts].sort(byKey((p) => p.name))) {
      const name = mergedName(service, prompt.name);
      if (claim(promptRoutes, "prompts", name, service, { service, name: prompt.name })) {
        prompts.push({ ...prompt, name });
      }
    }
    for (const resource of [...listing.resources].sort(byKey((r) => r.uri))) {
      if (claim(resourceRoutes, "resources", resource.uri, service, service)) resources.push(resource);
    }
    for (const template of [...listing.resourceTemplates].sort(byKey((t) => t.uriTemplate))) {
      if (claim(templateOwners, "resourceTemplates", template.uriTemplate, service, service)) {
        resourceTemplates.push(template);
      }
    }
  }

  return {
    tools,
    prompts,
    resources,
    resourceTemplates,
    toolRoutes,
    promptRoutes,
    resourceRoutes,
    templateRoutes: resourceTemplates.map((t) => ({
      service: templateOwners.get(t.uriTemplate) ?? "",
      template: t.uriTemplate,
    })),
    collisions,
    digests: {
      tools: digest(tools),
      prompts: digest(prompts),
      resources: digest([resources, resourceTemplates]),
    },
  };
}

/** The empty catalog (no service listed yet). */
export const EMPTY_CATALOG: MergedCatalog = mergeCatalog(new Map());

/** The lists whose digest differs between two catalogs, in a fixed order. */
export function changedLists(before: MergedCatalog, after: MergedCatalog): ListName[] {
  return (["tools", "prompts", "resources"] as const).filter(
    (list) => before.digests[list] !== after.digests[list],
  );
}

/** The service owning resource `uri`: a listed resource, else the first template matching it. */
export function resourceOwner(catalog: MergedCatalog, uri: string): string | undefined {
  const listed = catalog.resourceRoutes.get(uri);
  if (listed !== undefined) return listed;
  for (const { service, template } of catalog.templateRoutes) {
    try {
      if (new UriTemplate(template).match(uri) !== null) return service;
    } catch {
      // A template the SDK cannot parse matches nothing.
    }
  }
  return undefined;
}
