/**
 * Discovery: follows the Consul catalog with blocking queries and reports every instance of
 * every service, so the monitor's target set changes as Consul's does.
 *
 * Each sync reads `GET /v1/catalog/services?index=<X-Consul-Index>&wait=<s>`, which Consul holds
 * until the catalog changes (an instance registers or leaves) or the wait ends, then
 * `GET /v1/health/service/<name>` for every service. When Consul cannot be reached or answers
 * garbage, the last-known instances stay in place and the sync is retried with bounded
 * exponential backoff; the blocking index restarts from scratch.
 */
import { EventEmitter } from "node:events";
import type { Logger } from "@mcp-platform/shared";
import { backoffDelay, errorText, MAX_CONSUL_ANSWER_BYTES, readBoundedText } from "@mcp-platform/shared";
import type { Dispatcher } from "undici";
import { request } from "undici";
import { z } from "zod";
import type { Clock } from "./clock";
import { sleep } from "./clock";
import type { CatalogInstance } from "./consul-catalog";
import { nextIndex, parseCatalogServices, parseHealthEntries } from "./consul-catalog";
import { createLimiter } from "./limiter";

/** Options of `ConsulDiscovery`. */
export interface DiscoveryOptions {
  /** `CONSUL_HTTP_ADDR`, without a trailing slash. */
  readonly address: string;
  /** `CONSUL_HTTP_TOKEN`, sent as `X-Consul-Token`. */
  readonly token?: string | undefined;
  readonly logger: Logger;
  /** Clock of the backoff and rate-limit waits. */
  readonly clock: Clock;
  /** How long Consul may hold a blocking query (default 55 s; Consul adds up to 1/16 jitter). */
  readonly waitSeconds?: number;
  /** Least time between two syncs, so a busy catalog cannot make the loop spin (default 1 s). */
  readonly minGapMs?: number;
  /** Backoff after failed syncs: base delay, doubled per failure, capped (default 1 s → 30 s). */
  readonly backoff?: { readonly baseDelayMs: number; readonly maxDelayMs: number };
  /** Timeout of a non-blocking request (health reads), and the margin added to blocking ones. */
  readonly requestTimeoutMs?: number;
  readonly dispatcher?: Dispatcher;
}

/** Default `backoff`. */
export const DISCOVERY_BACKOFF = { baseDelayMs: 1_000, maxDelayMs: 30_000 } as const;

/** Service health reads in flight at once during a sync. */
const HEALTH_READ_CONCURRENCY = 8;

/** What a failed sync reports. */
export interface SyncFailure {
  /** Failed syncs in a row. */
  readonly attempt: number;
  readonly error: string;
  /** Wait before the next attempt. */
  readonly retryInMs: number;
}

/** Events of a discovery; tests wait on them instead of sleeping. */
export interface DiscoveryEvents {
  /** A sync finished with every instance of every service. */
  synced: [instances: readonly CatalogInstance[]];
  /** A sync failed; the last-known instances are kept. */
  failed: [failure: SyncFailure];
}

/** Follows the Consul catalog until stopped. */
export class ConsulDiscovery extends EventEmitter<DiscoveryEvents> {
  private readonly options: DiscoveryOptions;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  /** Unusable instances the last sync skipped (`service/id: reason`): each is logged once. */
  private skipped = new Set<string>();

  constructor(options: DiscoveryOptions) {
    super();
    this.options = options;
  }

  /** Starts following the catalog; `synced` fires after every successful sync. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops, aborting a blocking query in flight, and waits for the loop to end. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error("discovery stopped"));
    await this.loop;
  }

  private async run(): Promise<void> {
    const { clock, logger } = this.options;
    const signal = this.stopping.signal;
    const backoff = { attempts: Number.POSITIVE_INFINITY, ...(this.options.backoff ?? DISCOVERY_BACKOFF) };
    const minGapMs = this.options.minGapMs ?? 1_000;
    let index = 0;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const { names, indexHeader } = await this.readServices(index);
        const instances = await this.readInstances(names);
        index = nextIndex(index, indexHeader);
        failures = 0;
        this.emit("synced", instances);
        if (minGapMs > 0) await sleep(clock, minGapMs, signal);
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        index = 0;
        const retryInMs = backoffDelay(backoff, failures);
        const failure: SyncFailure = { attempt: failures, error: describe(error), retryInMs };
        logger.warn(
          { consul: this.options.address, ...failure },
          "consul discovery failed; keeping last-known targets",
        );
        this.emit("failed", failure);
        await sleep(clock, retryInMs, signal).catch(() => undefined);
      }
    }
  }

  /** The catalog's service names; blocks while the catalog is at `index` (unless 0). */
  private async readServices(index: number): Promise<{ names: string[]; indexHeader: string | undefined }> {
    const wait = this.options.waitSeconds ?? 55;
    const query = index > 0 ? `?index=${index}&wait=${wait}s` : "";
    // A blocking answer may take the whole wait plus Consul's jitter (wait / 16).
    const timeoutMs = index > 0 ? Math.ceil(wait * 1000 * (17 / 16)) + this.timeoutMs() : this.timeoutMs();
    const { body, headers } = await this.get(`/v1/catalog/services${query}`, timeoutMs);
    const header = headers["x-consul-index"];
    return { names: parseCatalogServices(body), indexHeader: Array.isArray(header) ? header[0] : header };
  }

  /** Every instance of the named services, in name order. */
  private async readInstances(names: readonly string[]): Promise<CatalogInstance[]> {
    const limit = createLimiter(HEALTH_READ_CONCURRENCY);
    const skipped = new Set<string>();
    const lists = await Promise.all(
      names.map((name) =>
        limit(async () => {
          const { body } = await this.get(`/v1/health/service/${encodeURIComponent(name)}`, this.timeoutMs());
          return parseHealthEntries(name, body, (id, reason) => {
            const key = `${name}/${id}: ${reason}`;
            skipped.add(key);
            if (this.skipped.has(key)) return;
            this.options.logger.warn({ service: name, id, reason }, "Consul instance skipped: not usable");
          });
        }),
      ),
    );
    this.skipped = skipped;
    return lists.flat();
  }

  private timeoutMs(): number {
    return this.options.requestTimeoutMs ?? 5_000;
  }

  private async get(
    path: string,
    timeoutMs: number,
  ): Promise<{ body: unknown; headers: Record<string, unknown> }> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.options.token !== undefined) headers["x-consul-token"] = this.options.token;
    const response = await request(`${this.options.address}${path}`, {
      method: "GET",
      headers,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: this.stopping.signal,
      ...(this.options.dispatcher === undefined ? {} : { dispatcher: this.options.dispatcher }),
    });
    const text = await readBoundedText(response.body, MAX_CONSUL_ANSWER_BYTES);
    if (response.statusCode !== 200) {
      throw new Error(`GET ${path.split("?")[0]}: HTTP ${response.statusCode}: ${text.trim().slice(0, 200)}`);
    }
    try {
      return { body: JSON.parse(text) as unknown, headers: response.headers };
    } catch {
      throw new Error(`GET ${path.split("?")[0]}: answer is not JSON`);
    }
  }
}

/** A short reason for a failed sync; a malformed answer names its first bad field. */
function describe(error: unknown): string {
  if (error instanceof z.ZodError) {
    const issue = error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? "" : `${issue.path.join(".")}: `;
    return `unexpected answer from Consul: ${where}${issue?.message ?? "invalid"}`;
  }
  return errorText(error).slice(0, 300);
}
