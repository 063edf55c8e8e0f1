/**
 * The operational routes every service exposes (DESIGN.md "Service contracts"):
 *
 * - `GET /health`: JSON summary (status, service, version, instance, checks); 200 or 503.
 * - `GET /health/live`: 200 while the process runs (Kubernetes liveness, Docker HEALTHCHECK).
 * - `GET /health/ready`: 200 only when every readiness check passes and the service is not
 *   shutting down, else 503 naming the failed checks (Consul check, Kubernetes readiness).
 * - `GET /metrics`: Prometheus text of the app's own registry.
 * - `GET /info`: name, version, instance id, Node version, uptime, start time, service config.
 *
 * Registered with fastify-plugin so the `readiness` decoration and the metrics hook apply to the
 * whole app, not just this plugin's scope. `Readiness` holds the named checks behind
 * `/health/ready`; each service registers its own (e.g. the mcp-server's "a bridge child is up").
 */
import { hostname } from "node:os";
import type { AddressInfo } from "node:net";
import type { FastifyInstance, FastifyReply } from "fastify";
import fp from "fastify-plugin";
import { serviceInstanceId } from "./consul";
import type { ServiceMetrics } from "./metrics";
import { observeHttpRequests } from "./metrics";

/** The result of one readiness check. */
export interface CheckOutcome {
  /** Whether the check passes. */
  readonly ok: boolean;
  /** Short human-readable reason, mostly for failures. */
  readonly detail?: string;
}

/**
 * A readiness check. Returning `true`/`false` is shorthand for `{ ok }`. A check that throws or
 * takes longer than the check timeout fails.
 */
export type ReadinessCheck = () => boolean | CheckOutcome | Promise<boolean | CheckOutcome>;

/** What `Readiness.evaluate` found. */
export interface ReadinessReport {
  /** `ok` when ready; otherwise why not. */
  readonly status: "ok" | "not_ready" | "shutting_down";
  /** Every check's outcome, by name, in registration order. */
  readonly checks: Readonly<Record<string, CheckOutcome>>;
  /** Names of the failing checks, in registration order. */
  readonly failed: readonly string[];
}

/** Receives errors thrown by checks, which the report itself does not expose. */
export type CheckErrorListener = (name: string, error: unknown) => void;

/** Options of `Readiness`. */
export interface ReadinessOptions {
  /** A check still running after this long fails; below Consul's 2 s check timeout. */
  readonly checkTimeoutMs?: number;
}

/** Default `checkTimeoutMs`. */
export const DEFAULT_CHECK_TIMEOUT_MS = 1500;

/** Named readiness checks and the shutting-down flag of one service. */
export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly checkTimeoutMs: number;
  private stopping = false;

  constructor(options: ReadinessOptions = {}) {
    this.checkTimeoutMs = options.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  }

  /** Registers a check under a unique name. */
  addCheck(name: string, check: ReadinessCheck): void {
    if (this.checks.has(name)) throw new Error(`readiness check "${name}" is already registered`);
    this.checks.set(name, check);
  }

  /** Makes the service report not-ready from now on; called first thing on SIGTERM. */
  markShuttingDown(): void {
    this.stopping = true;
  }

  /** Whether `markShuttingDown` was called. */
  get shuttingDown(): boolean {
    return this.stopping;
  }

  /** Runs every check concurrently and reports. */
  async evaluate(onError: CheckErrorListener = () => undefined): Promise<ReadinessReport> {
    const names = [...this.checks.keys()];
    const outcomes = await Promise.all(
      [...this.checks.values()].map((check, index) => this.run(names[index] ?? "", check, onError)),
    );
    const checks: Record<string, CheckOutcome> = {};
    names.forEach((name, index) => {
      checks[name] = outcomes[index] ?? { ok: false };
    });
    const failed = names.filter((name) => checks[name]?.ok !== true);
    const status = this.stopping ? "shutting_down" : failed.length > 0 ? "not_ready" : "ok";
    return { status, checks, failed };
  }

  private async run(name: string, check: ReadinessCheck, onError: CheckErrorListener): Promise<CheckOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CheckOutcome>((resolve) => {
      timer = setTimeout(
        () => resolve({ ok: false, detail: `timed out after ${this.checkTimeoutMs} ms` }),
        this.checkTimeoutMs,
      );
    });
    try {
      const outcome = await Promise.race([Promise.resolve().then(check).then(normalize), timeout]);
      return outcome;
    } catch (error) {
      onError(name, error);
      // The error itself may name internals (hosts, paths); the log has it, the answer does not.
      return { ok: false, detail: "check threw an error" };
    } finally {
      clearTimeout(timer);
    }
  }
}

function normalize(result: boolean | CheckOutcome): CheckOutcome {
  return typeof result === "boolean" ? { ok: result } : result;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Readiness checks and the shutting-down flag behind `/health/ready`. */
    readiness: Readiness;
  }
}

/** Options of `healthPlugin`. */
export interface HealthPluginOptions {
  /** Service name (`SERVICE_NAME`). */
  readonly service: string;
  /** Service version. */
  readonly version: string;
  /** Configured port: the instance id uses the bound port once listening, this one before. */
  readonly port: number;
  /** The app's metrics; `/metrics` serves its registry and the plugin feeds its histogram. */
  readonly metrics: ServiceMetrics;
  /** The app's readiness; decorated onto the instance as `readiness`. */
  readonly readiness: Readiness;
  /** Service-specific, secret-free configuration summary, served as `/info`'s `config`. */
  readonly details?: () => Record<string, unknown>;
  /** When the service started; defaults to the process start (`performance.timeOrigin`). */
  readonly startedAt?: Date;
}

/** The `/info` body. */
export interface InfoBody {
  readonly service: string;
  readonly version: string;
  readonly instanceId: string;
  readonly node: string;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly config: Record<string, unknown>;
}

/** The `/health` body. */
export interface HealthBody extends ReadinessReport {
  readonly service: string;
  readonly version: string;
  readonly instanceId: string;
}

/** The `/health/ready` body. */
export type ReadyBody = ReadinessReport;

async function health(app: FastifyInstance, options: HealthPluginOptions): Promise<void> {
  const startedAt = options.startedAt ?? new Date(Math.round(performance.timeOrigin));
  const host = hostname();
  app.decorate("readiness", options.readiness);
  observeHttpRequests(app, options.metrics);

  const instanceId = (): string => {
    const address = app.server.address() as AddressInfo | string | null;
    const port = address !== null && typeof address === "object" ? address.port : options.port;
    return serviceInstanceId(options.service, host, port);
  };

  const report = (): Promise<ReadinessReport> =>
    options.readiness.evaluate((name, error) =>
      app.log.warn({ check: name, err: error }, "readiness check threw"),
    );

  const send = (reply: FastifyReply, ready: boolean, body: unknown) =>
    reply
      .code(ready ? 200 : 503)
      .header("cache-control", "no-store")
      .send(body);

  app.get("/health", async (_request, reply) => {
    const result = await report();
    const body: HealthBody = {
      service: options.service,
      version: options.version,
      instanceId: instanceId(),
      ...result,
    };
    return send(reply, result.status === "ok", body);
  });

  app.get("/health/live", async (_request, reply) => send(reply, true, { status: "ok" }));

  app.get("/health/ready", async (_request, reply) => {
    const result: ReadyBody = await report();
    return send(reply, result.status === "ok", result);
  });

  app.get("/metrics", async (_request, reply) => {
    const text = await options.metrics.registry.metrics();
    return reply.header("content-type", options.metrics.registry.contentType).send(text);
  });

  app.get("/info", async (): Promise<InfoBody> => {
    return {
      service: options.service,
      version: options.version,
      instanceId: instanceId(),
      node: process.version,
      startedAt: startedAt.toISOString(),
      uptimeSeconds: Math.floor((Date.now() - startedAt.getTime()) / 1000),
      config: options.details?.() ?? {},
    };
  });
}

/** The health, metrics and info routes, plus the `readiness` decoration and the metrics hook. */
export const healthPlugin = fp(health, { name: "mcp-platform-health", fastify: "5.x" });
