/**
 * Keeps this replica's merged catalog current. Each service's tools, prompts and resources are
 * listed through the router's own upstream sessions (any healthy instance of the service):
 *
 * - when the service gains its first available instance;
 * - when an instance announces `notifications/<list>/list_changed`;
 * - every `refreshMs`, as a safety net for missed announcements.
 *
 * A service with no available instance (none in discovery, or all ejected) drops out at once. A
 * listing that fails keeps the previous one while the service stays available. `changed` fires
 * with the lists whose digest changed, so clients hear about real changes only.
 */
import { EventEmitter } from "node:events";
import type { Prompt, Resource, ResourceTemplate, Tool } from "@modelcontextprotocol/sdk/types.js";
import {
  PromptSchema,
  ResourceSchema,
  ResourceTemplateSchema,
  ToolSchema,
} from "@modelcontextprotocol/sdk/types.js";
import type { z } from "zod";
import type { Logger } from "@mcp-platform/shared";
import { errorText } from "@mcp-platform/shared";
import type { RouterMetrics } from "../metrics";
import type { InstancePin, Upstreams } from "../upstream/upstreams";
import type { ListName, MergedCatalog, ServiceListing } from "./merge";
import { changedLists, EMPTY_CATALOG, mergeCatalog } from "./merge";

/** Most pages read from one list, so a server paging forever cannot hold a refresh. */
const MAX_PAGES = 50;
/** Timeout of one listing request. */
const LIST_TIMEOUT_MS = 10_000;
/** Wait before listing a service again after a failed listing. */
const RETRY_MS = 2_000;
/**
 * Least time between two listings of a service in a row: an instance announcing `list_changed`
 * without pause would otherwise keep the replica listing it (and its clients re-listing) flat out.
 */
export const RELIST_GAP_MS = 1_000;

/** Events of `Catalog`. */
export interface CatalogEvents {
  /** Lists whose merged content changed (only after the catalog is ready). */
  changed: [lists: ListName[]];
  /** The first complete listing finished. */
  ready: [];
}

/** Options of `Catalog`. */
export interface CatalogOptions {
  readonly upstreams: Upstreams;
  readonly logger: Logger;
  readonly metrics: RouterMetrics;
  /** Interval of the periodic re-list. */
  readonly refreshMs: number;
  /** Waits `ms` between two listings of a service in a row (`RELIST_GAP_MS`); tests control it. */
  readonly pause?: (ms: number) => Promise<void>;
}

/** A timer that does not hold the process open. */
const unrefDelay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** The merged catalog of this replica. */
export class Catalog extends EventEmitter<CatalogEvents> {
  private readonly listings = new Map<string, ServiceListing>();
  private merged: MergedCatalog = EMPTY_CATALOG;
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private isReady = false;
  private stopped = false;

  constructor(private readonly options: CatalogOptions) {
    super();
    options.upstreams.on("availability", (service) => this.onAvailability(service));
    options.upstreams.on("listChanged", (service) => void this.refresh(service));
  }

  /** The current merged catalog. */
  get current(): MergedCatalog {
    return this.merged;
  }

  /** Whether the first complete listing has finished. */
  get ready(): boolean {
    return this.isReady;
  }

  /**
   * Lists every available service and drops the others; the first call makes the catalog ready
   * once it finishes (listings that fail count as finished: the service is retried later).
   */
  async sync(): Promise<void> {
    const available = new Set(this.options.upstreams.availableServices());
    for (const service of [...this.listings.keys()])
      if (!available.has(service)) this.listings.delete(service);
    this.recompute();
    // A listing already running (a service that just became available) counts: no second run.
    await Promise.all([...available].map((service) => this.running.get(service) ?? this.refresh(service)));
    if (!this.isReady && !this.stopped) {
      this.isReady = true;
      const { tools, prompts, resources, resourceTemplates } = this.merged;
      this.options.logger.info(
        {
          services: [...this.listings.keys()],
          tools: tools.length,
          prompts: prompts.length,
          resources: resources.length,
          resourceTemplates: resourceTemplates.length,
        },
        "catalog ready",
      );
      this.emit("ready");
    }
  }

  /** Starts the periodic re-list. */
  start(): void {
    this.timer ??= setInterval(() => void this.sync(), this.options.refreshMs);
    this.timer.unref();
  }

  /** Stops refreshing. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** Re-lists one service; concurrent calls coalesce into one more run. */
  refresh(service: string): Promise<void> {
    const running = this.running.get(service);
    if (running !== undefined) {
      this.again.add(service);
      return running;
    }
    const run = (async () => {
      for (;;) {
        this.again.delete(service);
        await this.list(service);
        if (!this.again.has(service) || this.stopped) return;
        await (this.options.pause ?? unrefDelay)(RELIST_GAP_MS);
      }
    })().finally(() => this.running.delete(service));
    this.running.set(service, run);
    return run;
  }

  private onAvailability(service: string): void {
    const available = this.options.upstreams.available(service).length > 0;
    if (!available && this.listings.delete(service)) {
      this.options.logger.info(
        { service },
        "service has no available instance; its entries leave the catalog",
      );
      this.recompute();
    } else if (available && !this.listings.has(service)) {
      void this.refresh(service);
    }
  }

  private async list(service: string): Promise<void> {
    const { upstreams, metrics, logger } = this.options;
    if (this.stopped || upstreams.available(service).length === 0) return;
    try {
      // One instance answers the whole listing: a page's cursor means something only to the
      // instance that gave it, and one instance's lists are consistent with each other.
      const pin: InstancePin = {};
      const capabilities = await upstreams.capabilities(service, pin);
      const [tools, prompts, resources, resourceTemplates] = await Promise.all([
        capabilities.tools ? this.pages<Tool>(service, "tools/list", "tools", ToolSchema, pin) : [],
        capabilities.prompts ? this.pages<Prompt>(service, "prompts/list", "prompts", PromptSchema, pin) : [],
        capabilities.resources
          ? this.pages<Resource>(service, "resources/list", "resources", ResourceSchema, pin)
          : [],
        capabilities.resources
          ? this.pages<ResourceTemplate>(
              service,
              "resources/templates/list",
              "resourceTemplates",
              ResourceTemplateSchema,
              pin,
            )
          : [],
      ]);
      metrics.catalogRefreshes.inc({ service, outcome: "ok" });
      // The service may have lost its instances while it was being listed.
      if (upstreams.available(service).length === 0) return;
      this.listings.set(service, { tools, prompts, resources, resourceTemplates });
      this.recompute();
    } catch (error) {
      metrics.catalogRefreshes.inc({ service, outcome: "error" });
      logger.warn({ service, err: errorText(error) }, "cannot list the service; keeping its last listing");
      // Try again soon rather than at the next periodic refresh.
      if (!this.stopped) setTimeout(() => void this.refresh(service), RETRY_MS).unref();
    }
  }

  /**
   * Every page of one list. An entry the MCP schema refuses (a tool without a name or an input
   * schema) is left out and logged: passed on, it would make clients refuse the whole merged
   * list, every other service's entries with it.
   */
  private async pages<T>(
    service: string,
    method: string,
    field: string,
    schema: z.ZodType,
    pin: InstancePin,
  ): Promise<T[]> {
    const items: T[] = [];
    let invalid = 0;
    let example: string | undefined;
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await this.options.upstreams.forward(
        service,
        { method, params: cursor === undefined ? {} : { cursor } },
        { timeout: LIST_TIMEOUT_MS },
        pin,
      );
      const list = result[field];
      for (const item of Array.isArray(list) ? (list as unknown[]) : []) {
        const checked = schema.safeParse(item);
        if (checked.success) items.push(item as T);
        else {
          invalid++;
          const issue = checked.error.issues[0];
          example ??= issue === undefined ? undefined : `${issue.path.join(".")}: ${issue.message}`;
        }
      }
      cursor = typeof result.nextCursor === "string" ? result.nextCursor : undefined;
      if (cursor === undefined) break;
    }
    if (invalid > 0) {
      this.options.logger.warn(
        { service, method, invalid, example },
        "the service listed entries the MCP schema refuses; they are left out",
      );
    }
    return items;
  }

  private recompute(): void {
    const before = this.merged;
    const after = mergeCatalog(this.listings);
    this.merged = after;
    const { metrics, logger } = this.options;
    metrics.catalogItems.set({ kind: "tools" }, after.tools.length);
    metrics.catalogItems.set({ kind: "prompts" }, after.prompts.length);
    metrics.catalogItems.set({ kind: "resources" }, after.resources.length);
    metrics.catalogItems.set({ kind: "resourceTemplates" }, after.resourceTemplates.length);
    const known = new Set(before.collisions.map((c) => `${c.kind}\u0000${c.key}\u0000${c.service}`));
    for (const collision of after.collisions) {
      if (known.has(`${collision.kind}\u0000${collision.key}\u0000${collision.service}`)) continue;
      metrics.catalogCollisions.inc({ kind: collision.kind });
      logger.warn({ ...collision }, "catalog collision: entry dropped");
    }
    const lists = changedLists(before, after);
    if (lists.length === 0 || !this.isReady) return;
    for (const list of lists) metrics.listChanged.inc({ kind: list });
    logger.info({ lists }, "catalog changed");
    this.emit("changed", lists);
  }
}
