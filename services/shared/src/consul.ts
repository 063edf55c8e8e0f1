/**
 * Registration in Consul through the local agent's HTTP API (undici), with an HTTP check on
 * `/health/ready`, so HAProxy (Consul DNS) and the router only see instances that are ready.
 *
 * The address registered is the one peers can reach: a service bound to 0.0.0.0 listens
 * everywhere, but Consul, HAProxy and the routers need one address, which inside a container is
 * its interface address, unknown when the image is built (see `resolveAdvertiseAddress`).
 *
 * https://developer.hashicorp.com/consul/api-docs/agent/service
 */
import { networkInterfaces } from "node:os";
import type { NetworkInterfaceInfo } from "node:os";
import { setTimeout as delay } from "node:timers/promises";
import { request } from "undici";
import type { Dispatcher } from "undici";
import type { Logger } from "pino";
import { readBoundedText } from "./bounded-read";
import { errorText } from "./shutdown";

/** Bind addresses that mean "every interface" and so cannot be advertised. */
const WILDCARD_HOSTS: ReadonlySet<string> = new Set(["0.0.0.0", "::", "[::]", "::0"]);

/** Interfaces as returned by `os.networkInterfaces()`. */
export type InterfaceTable = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** What `resolveAdvertiseAddress` decides from. */
export interface AdvertiseAddressInput {
  /** `SERVICE_ADDRESS`, which wins when set. */
  readonly serviceAddress?: string | undefined;
  /** `HOST`, used when it names one specific address. */
  readonly host: string;
  /** The machine's interfaces; defaults to `os.networkInterfaces()`. */
  readonly interfaces?: InterfaceTable;
}

/**
 * Picks the address to advertise: `SERVICE_ADDRESS` when set, else `HOST` when it is a specific
 * address, else the first non-internal IPv4 address of the machine's interfaces (interfaces in
 * the order the OS lists them). Throws when none of these gives an address.
 */
export function resolveAdvertiseAddress(input: AdvertiseAddressInput): string {
  if (input.serviceAddress !== undefined) return input.serviceAddress;
  if (!WILDCARD_HOSTS.has(input.host)) return input.host;
  const table = input.interfaces ?? networkInterfaces();
  for (const entries of Object.values(table)) {
    const found = entries?.find((entry) => entry.family === "IPv4" && !entry.internal);
    if (found !== undefined) return found.address;
  }
  throw new Error(
    `cannot choose an address to advertise in Consul: HOST=${input.host} listens on every interface ` +
      "and no non-internal IPv4 interface exists; set SERVICE_ADDRESS",
  );
}

/** `host` as it goes into a URL: IPv6 literals are bracketed. */
export function urlHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** The body of `PUT /v1/agent/service/register` as this platform sends it. */
export interface ConsulServiceRegistration {
  readonly ID: string;
  readonly Name: string;
  readonly Address: string;
  readonly Port: number;
  readonly Tags: readonly string[];
  readonly Meta: Readonly<Record<string, string>>;
  readonly Check: {
    readonly HTTP: string;
    readonly Method: "GET";
    readonly Interval: string;
    readonly Timeout: string;
    readonly DeregisterCriticalServiceAfter: string;
  };
}

/** What a registration is built from. */
export interface RegistrationInput {
  /** `SERVICE_NAME`. */
  readonly name: string;
  /** The advertised address (see `resolveAdvertiseAddress`). */
  readonly address: string;
  /** The port actually bound, so PORT=0 registers the real one. */
  readonly port: number;
  /** Service version, stored as `Meta.version`. */
  readonly version: string;
  /** Consul tags. */
  readonly tags?: readonly string[];
  /** Host name used in the ID; `os.hostname()` in practice (the pod or container name). */
  readonly hostname: string;
}

/** Check timings: Consul probes every 10 s and drops an instance critical for a minute. */
export const CONSUL_CHECK = { interval: "10s", timeout: "2s", deregisterCriticalAfter: "1m" } as const;

/**
 * A stable, unique instance id: `<name>-<hostname>-<port>`. Stable so a restarted instance
 * replaces its own entry; unique because host name and port together identify an instance.
 */
export function serviceInstanceId(name: string, hostname: string, port: number): string {
  return `${name}-${hostname}-${port}`;
}

/** Builds the registration payload for one instance. */
export function buildRegistration(input: RegistrationInput): ConsulServiceRegistration {
  return {
    ID: serviceInstanceId(input.name, input.hostname, input.port),
    Name: input.name,
    Address: input.address,
    Port: input.port,
    Tags: [...(input.tags ?? [])],
    Meta: { version: input.version },
    Check: {
      HTTP: `http://${urlHost(input.address)}:${input.port}/health/ready`,
      Method: "GET",
      Interval: CONSUL_CHECK.interval,
      Timeout: CONSUL_CHECK.timeout,
      DeregisterCriticalServiceAfter: CONSUL_CHECK.deregisterCriticalAfter,
    },
  };
}

/** How often and how patiently a call is retried. */
export interface RetryPolicy {
  /** Total attempts, including the first. */
  readonly attempts: number;
  /** Delay after the first failure; doubled after each further one. */
  readonly baseDelayMs: number;
  /** Upper bound of one delay. */
  readonly maxDelayMs: number;
}

/** Registration on start: about 20 s in all, enough for a Consul agent that starts alongside. */
export const REGISTER_RETRY: RetryPolicy = { attempts: 8, baseDelayMs: 500, maxDelayMs: 5000 };

/** Deregistration on SIGTERM: brief, since the drain deadline is running. */
export const DEREGISTER_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 200, maxDelayMs: 1000 };

/** Registering again from `RegistrationKeeper`: one attempt, its next round is the retry. */
export const RESYNC_RETRY: RetryPolicy = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };

/** Delay before attempt `attempt + 1` (attempt counts from 1). */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
}

/** Most bytes of one Consul answer read: a health answer for thousands of instances is a few MiB. */
export const MAX_CONSUL_ANSWER_BYTES = 16 * 1024 * 1024;

/** A Consul call that failed for good. */
export class ConsulError extends Error {
  /** Whether retrying could help (network error, 429 or 5xx). */
  readonly retryable: boolean;

  /** The HTTP status Consul answered, when it answered. */
  readonly status: number | undefined;

  constructor(message: string, retryable: boolean, status?: number) {
    super(message);
    this.name = "ConsulError";
    this.retryable = retryable;
    this.status = status;
  }
}

/** Options of `ConsulAgent`. */
export interface ConsulAgentOptions {
  /** `CONSUL_HTTP_ADDR`, e.g. `http://consul:8500`. */
  readonly address: string;
  /** `CONSUL_HTTP_TOKEN`, sent as `X-Consul-Token`. */
  readonly token?: string | undefined;
  /** Where attempts and failures are logged. */
  readonly logger: Logger;
  /** Timeout of one HTTP attempt. */
  readonly requestTimeoutMs?: number;
  /** undici dispatcher; the global one by default. */
  readonly dispatcher?: Dispatcher;
}

/** Options of one call. */
export interface CallOptions {
  /** Retry policy of this call. */
  readonly retry?: RetryPolicy;
  /** Aborts the call, including its waits between attempts. */
  readonly signal?: AbortSignal;
}

/** Client of the Consul agent's service endpoints. */
export class ConsulAgent {
  private readonly options: ConsulAgentOptions;

  constructor(options: ConsulAgentOptions) {
    this.options = options;
  }

  /** `PUT /v1/agent/service/register`, retried with backoff (default `REGISTER_RETRY`). */
  async register(registration: ConsulServiceRegistration, call: CallOptions = {}): Promise<void> {
    await this.withRetry(
      `register ${registration.ID}`,
      () =>
        this.send(
          "PUT",
          "/v1/agent/service/register?replace-existing-checks=true",
          registration,
          call.signal,
        ),
      call.retry ?? REGISTER_RETRY,
      call.signal,
    );
  }

  /**
   * `GET /v1/agent/service/<id>`: whether the agent still holds the instance. It loses it when it
   * restarts without state (a dev agent), or after the instance's check was critical for
   * `CONSUL_CHECK.deregisterCriticalAfter`. One attempt; failures throw `ConsulError`.
   */
  async isRegistered(id: string, call: Pick<CallOptions, "signal"> = {}): Promise<boolean> {
    try {
      await this.send("GET", `/v1/agent/service/${encodeURIComponent(id)}`, undefined, call.signal);
      return true;
    } catch (error) {
      if (error instanceof ConsulError && error.status === 404) return false;
      throw error;
    }
  }

  /** `PUT /v1/agent/service/deregister/<id>`, retried briefly (default `DEREGISTER_RETRY`). */
  async deregister(id: string, call: CallOptions = {}): Promise<void> {
    await this.withRetry(
      `deregister ${id}`,
      () =>
        this.send("PUT", `/v1/agent/service/deregister/${encodeURIComponent(id)}`, undefined, call.signal),
      call.retry ?? DEREGISTER_RETRY,
      call.signal,
    );
  }

  private async withRetry(
    what: string,
    attempt: () => Promise<void>,
    policy: RetryPolicy,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const log = this.options.logger;
    for (let n = 1; ; n++) {
      try {
        await attempt();
        return;
      } catch (error) {
        signal?.throwIfAborted();
        const err = asConsulError(error);
        const context = { consul: this.options.address, attempt: n, attempts: policy.attempts };
        if (!err.retryable || n >= policy.attempts) {
          log.error({ ...context, err: err.message }, `consul ${what} failed`);
          throw new ConsulError(
            `consul ${what} at ${this.options.address} failed after ${n} attempt(s): ${err.message}`,
            err.retryable,
            err.status,
          );
        }
        const waitMs = backoffDelay(policy, n);
        log.warn({ ...context, err: err.message, retryInMs: waitMs }, `consul ${what} failed; retrying`);
        await delay(waitMs, undefined, { signal });
      }
    }
  }

  private async send(
    method: "GET" | "PUT",
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const timeout = this.options.requestTimeoutMs ?? 5000;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.options.token !== undefined) headers["x-consul-token"] = this.options.token;
    const response = await request(`${this.options.address}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: timeout,
      bodyTimeout: timeout,
      signal,
      ...(this.options.dispatcher === undefined ? {} : { dispatcher: this.options.dispatcher }),
    });
    const text = await readBoundedText(response.body, MAX_CONSUL_ANSWER_BYTES);
    if (response.statusCode >= 200 && response.statusCode < 300) return;
    const retryable = response.statusCode === 429 || response.statusCode >= 500;
    throw new ConsulError(
      `HTTP ${response.statusCode}: ${text.trim().slice(0, 200)}`,
      retryable,
      response.statusCode,
    );
  }
}

/** Options of `RegistrationKeeper`. */
export interface RegistrationKeeperOptions {
  readonly agent: ConsulAgent;
  readonly registration: ConsulServiceRegistration;
  /** How often the agent is asked whether it still holds the registration. */
  readonly intervalMs: number;
  readonly logger: Logger;
}

/**
 * Keeps an instance registered for as long as it runs. A registration made once at start is lost
 * when the agent loses its state (a dev agent restarted, a replaced Consul server) or reaps the
 * instance after its check was critical for a minute (a long not-ready spell); the instance would
 * then serve on, unseen by HAProxy, the routers and the monitor. Every `intervalMs` the keeper
 * asks the agent and registers again when the instance is missing. A failed round (Consul
 * unreachable) is logged and retried on the next one.
 */
export class RegistrationKeeper {
  private readonly timer: NodeJS.Timeout;
  private readonly stopping = new AbortController();
  private round: Promise<void> | undefined;

  constructor(private readonly options: RegistrationKeeperOptions) {
    this.timer = setInterval(() => {
      this.round ??= this.check().finally(() => (this.round = undefined));
    }, options.intervalMs);
    this.timer.unref();
  }

  /** Stops checking; resolves once a round in progress has ended (so none races a deregistration). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await this.round;
  }

  private async check(): Promise<void> {
    const { agent, registration, logger } = this.options;
    const signal = this.stopping.signal;
    try {
      if (await agent.isRegistered(registration.ID, { signal })) return;
      logger.warn({ consulId: registration.ID }, "consul no longer holds this instance; registering again");
      await agent.register(registration, { signal, retry: RESYNC_RETRY });
      logger.info({ consulId: registration.ID }, "registered in consul again");
    } catch (error) {
      if (signal.aborted) return;
      logger.warn(
        { consulId: registration.ID, err: errorText(error) },
        "cannot check the consul registration; retrying later",
      );
    }
  }
}

function asConsulError(error: unknown): ConsulError {
  if (error instanceof ConsulError) return error;
  // Connection refused, DNS failure, timeout: Consul may simply not be up yet.
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new ConsulError(message, true);
}
