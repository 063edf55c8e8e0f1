/**
 * Every instance of every MCP service this replica knows, and the routing of one request to one
 * of them: least outstanding requests among the healthy instances, a retry on another instance
 * only when the request never reached a backend, passive ejection of instances that keep
 * failing, and probes that let them back.
 */
import { EventEmitter } from "node:events";
import type { RequestOptions } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { Result, ServerCapabilities } from "@modelcontextprotocol/sdk/types.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "@mcp-platform/shared";
import { errorText, redactUrl } from "@mcp-platform/shared";
import type { ServiceMap } from "../discovery/discovery";
import type { RouterMetrics, UpstreamOutcome } from "../metrics";
import { methodLabel } from "../metrics";
import type { EjectionPolicy } from "./balancing";
import { InstanceHealth, pickLeastOutstanding } from "./balancing";
import type { ListKind, UpstreamRequest } from "./upstream-session";
import { UpstreamSession } from "./upstream-session";
import { isUpstreamLost, NotDeliveredError } from "./upstream-transport";

/** Most instances one request is tried on. */
export const MAX_ATTEMPTS = 3;
/** Timeout of a probe of an ejected instance. */
const PROBE_TIMEOUT_MS = 2_000;

/** One instance of one service. */
export interface Instance {
  readonly service: string;
  readonly url: string;
  readonly session: UpstreamSession;
  readonly health: InstanceHealth;
  /** Requests this replica has in flight there. */
  outstanding: number;
  /** Gone from discovery: takes no new requests, closes once idle. */
  removed: boolean;
  probe?: NodeJS.Timeout;
}

/** Events of `Upstreams`. */
export interface UpstreamsEvents {
  /** The set of instances able to take requests for `service` changed. */
  availability: [service: string];
  /** An instance of `service` announced a changed list. */
  listChanged: [service: string, kind: ListKind];
}

/** Options of `Upstreams`. */
export interface UpstreamsOptions {
  readonly logger: Logger;
  readonly metrics: RouterMetrics;
  readonly ejection: EjectionPolicy;
  /** Clock in ms, for tests. */
  readonly now?: () => number;
}

/** Per-request options: the SDK's, plus nothing else. */
export type ForwardOptions = RequestOptions;

/**
 * The instance a run of requests must all reach, set by the first that is answered: the pages
 * of one listing, whose cursors mean something only to the instance that gave them (instances
 * of two versions, during a rolling update, may page differently).
 */
export interface InstancePin {
  instance?: Instance;
}

/** The instances of every service, and request routing over them. */
export class Upstreams extends EventEmitter<UpstreamsEvents> {
  private readonly services = new Map<string, Instance[]>();
  private rotation = 0;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly options: UpstreamsOptions) {
    super();
    this.now = options.now ?? Date.now;
  }

  /** Applies a discovery view: new instances join, vanished ones drain and close. */
  update(view: ServiceMap): void {
    const touched = new Set<string>([...this.services.keys(), ...view.keys()]);
    for (const service of touched) {
      const urls = new Set(view.get(service) ?? []);
      const current = this.services.get(service) ?? [];
      const kept = current.filter((instance) => {
        // A retired instance stays only until its last request has finished.
        if (instance.removed) return instance.outstanding > 0;
        if (urls.has(instance.url)) return true;
        this.retire(instance);
        return instance.outstanding > 0;
      });
      for (const url of urls) {
        if (kept.some((instance) => instance.url === url && !instance.removed)) continue;
        kept.push(this.create(service, url));
      }
      kept.sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
      if (kept.length === 0) this.services.delete(service);
      else this.services.set(service, kept);
      this.publishGauges(service);
      this.emit("availability", service);
    }
  }

  /** Ids of the services with at least one instance able to take requests, sorted. */
  availableServices(): string[] {
    return [...this.services.keys()].filter((service) => this.available(service).length > 0).sort();
  }

  /** The instances of `service` able to take requests. */
  available(service: string): Instance[] {
    return (this.services.get(service) ?? []).filter(
      (instance) => !instance.removed && instance.health.current === "healthy",
    );
  }

  /** Picks the instance for the next request to `service`, skipping `exclude`. */
  pick(service: string, exclude: ReadonlySet<Instance> = new Set()): Instance | undefined {
    const candidates = this.available(service).filter((instance) => !exclude.has(instance));
    const index = pickLeastOutstanding(candidates, this.rotation++);
    return index < 0 ? undefined : candidates[index];
  }

  /**
   * The instance for the next attempt: `pin`'s while it can take requests and was not tried, else
   * (no pin yet) the next pick.
   */
  private choose(service: string, tried: ReadonlySet<Instance>, pin?: InstancePin): Instance | undefined {
    const pinned = pin?.instance;
    if (pinned === undefined) return this.pick(service, tried);
    return !tried.has(pinned) && this.available(service).includes(pinned) ? pinned : undefined;
  }

  /**
   * Sends `request` to a healthy instance of `service` (`pin`'s, when it holds one) and resolves
   * with its result. Retries on another instance only when the request never reached one;
   * rejects with the upstream's own JSON-RPC error when it answered with one, or an `McpError`
   * saying what went wrong.
   */
  async forward(
    service: string,
    request: UpstreamRequest,
    options: ForwardOptions = {},
    pin?: InstancePin,
  ): Promise<Result> {
    const { metrics } = this.options;
    const method = methodLabel(request.method);
    const stopTimer = metrics.upstreamDuration.startTimer({ service, method });
    const tried = new Set<Instance>();
    let outcome: UpstreamOutcome = "failed";
    try {
      for (let attempt = 1; ; attempt++) {
        const instance = this.choose(service, tried, pin);
        if (instance === undefined) {
          outcome = "unavailable";
          throw new McpError(
            ErrorCode.InternalError,
            pin?.instance !== undefined
              ? `The instance of service "${service}" that answered this run's first request can take no more`
              : tried.size === 0
                ? `No healthy instance of service "${service}"`
                : `No instance of service "${service}" could be reached`,
          );
        }
        instance.outstanding++;
        try {
          const result = await instance.session.request(request, options);
          this.succeeded(instance);
          if (pin !== undefined) pin.instance = instance;
          outcome = "ok";
          return result;
        } catch (error) {
          if (options.signal?.aborted) {
            outcome = "cancelled";
            throw error;
          }
          if (error instanceof NotDeliveredError) {
            this.failed(instance, error.message);
            tried.add(instance);
            if (attempt < MAX_ATTEMPTS) {
              metrics.retries.inc({ service, reason: error.reason });
              continue;
            }
            outcome = "unavailable";
            throw new McpError(
              ErrorCode.InternalError,
              `No instance of service "${service}" could be reached`,
            );
          }
          if (isUpstreamLost(error)) {
            this.failed(instance, "stream lost");
            throw new McpError(
              ErrorCode.InternalError,
              `The instance of "${service}" failed during the request`,
            );
          }
          if (error instanceof McpError) {
            // The SDK reports its own timeout as RequestTimeout; anything else is the upstream's answer.
            outcome = error.code === ErrorCode.RequestTimeout ? "timeout" : "error";
            if (outcome === "error") this.succeeded(instance);
            throw error;
          }
          // Sent, then the connection failed: the instance may have run it, so no retry.
          this.failed(instance, errorText(error));
          throw new McpError(
            ErrorCode.InternalError,
            `The instance of "${service}" failed during the request`,
          );
        } finally {
          this.release(instance);
        }
      }
    } finally {
      stopTimer();
      metrics.upstreamRequests.inc({ service, method, outcome });
    }
  }

  /**
   * What an instance of `service` declared in `initialize`, from the first instance (in picking
   * order, or `pin`'s) whose session connects.
   */
  async capabilities(service: string, pin?: InstancePin): Promise<ServerCapabilities> {
    const tried = new Set<Instance>();
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const instance = this.choose(service, tried, pin);
      if (instance === undefined) break;
      try {
        const capabilities = await instance.session.capabilities();
        this.succeeded(instance);
        if (pin !== undefined) pin.instance = instance;
        return capabilities;
      } catch (error) {
        if (!(error instanceof NotDeliveredError)) throw error;
        this.failed(instance, error.message);
        tried.add(instance);
      }
    }
    throw new McpError(ErrorCode.InternalError, `No instance of service "${service}" could be reached`);
  }

  /**
   * Ends one request counted in `instance.outstanding` (forwarded here, or relayed by the
   * passthrough); an instance gone from discovery closes its session with its last request.
   */
  release(instance: Instance): void {
    instance.outstanding--;
    if (instance.removed && instance.outstanding === 0) void instance.session.close();
  }

  /** Records that `instance` answered (passthrough traffic counts too). */
  recordSuccess(instance: Instance): void {
    this.succeeded(instance);
  }

  /** Records a transport failure of `instance` (passthrough traffic counts too). */
  recordFailure(instance: Instance, reason: string): void {
    this.failed(instance, reason);
  }

  /** The instance with this URL, if it is a current instance of `service`. */
  instance(service: string, url: string): Instance | undefined {
    return (this.services.get(service) ?? []).find((instance) => instance.url === url && !instance.removed);
  }

  /** Whether `service` has any current instance (ejected ones included). */
  hasService(service: string): boolean {
    return (this.services.get(service) ?? []).some((instance) => !instance.removed);
  }

  /** Closes every upstream session and stops the probes. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.services.values()].flat();
    this.services.clear();
    for (const instance of all) clearTimeout(instance.probe);
    await Promise.all(all.map((instance) => instance.session.close()));
  }

  private create(service: string, url: string): Instance {
    const instance: Instance = {
      service,
      url,
      health: new InstanceHealth(this.options.ejection),
      outstanding: 0,
      removed: false,
      session: new UpstreamSession({
        url,
        logger: this.options.logger,
        onListChanged: (kind) => this.emit("listChanged", service, kind),
      }),
    };
    return instance;
  }

  private retire(instance: Instance): void {
    if (instance.removed) return;
    instance.removed = true;
    clearTimeout(instance.probe);
    if (instance.outstanding === 0) void instance.session.close();
  }

  private succeeded(instance: Instance): void {
    if (!instance.health.recordSuccess()) return;
    this.options.logger.info(
      { service: instance.service, instance: redactUrl(instance.url) },
      "instance back in rotation",
    );
    this.publishGauges(instance.service);
    this.emit("availability", instance.service);
  }

  private failed(instance: Instance, reason: string): void {
    const ejected = instance.health.recordFailure(this.now());
    if (!ejected) return;
    const { logger, metrics } = this.options;
    logger.warn(
      {
        service: instance.service,
        instance: redactUrl(instance.url),
        reason,
        failures: instance.health.consecutiveFailures,
      },
      "instance ejected",
    );
    metrics.ejections.inc({ service: instance.service });
    this.publishGauges(instance.service);
    this.scheduleProbe(instance);
    this.emit("availability", instance.service);
  }

  private scheduleProbe(instance: Instance): void {
    clearTimeout(instance.probe);
    if (this.closed || instance.removed) return;
    const wait = Math.max(0, instance.health.probeAt - this.now());
    instance.probe = setTimeout(() => void this.probe(instance), wait);
    instance.probe.unref();
  }

  private async probe(instance: Instance): Promise<void> {
    if (this.closed || instance.removed) return;
    try {
      await instance.session.ping(PROBE_TIMEOUT_MS);
      this.succeeded(instance);
    } catch (error) {
      instance.health.probeFailed(this.now());
      this.options.logger.debug({ instance: redactUrl(instance.url), err: errorText(error) }, "probe failed");
      this.scheduleProbe(instance);
    }
  }

  private publishGauges(service: string): void {
    const all = (this.services.get(service) ?? []).filter((instance) => !instance.removed);
    const ejected = all.filter((instance) => instance.health.current === "ejected").length;
    this.options.metrics.instances.set({ service, state: "available" }, all.length - ejected);
    this.options.metrics.instances.set({ service, state: "ejected" }, ejected);
  }
}
