/**
 * `runService`: the whole life of a service process, shared by the three `main.ts` files
 * (DESIGN.md "How a service is started").
 *
 * 1. Load and validate the environment; on error print one line to stderr and exit 1.
 * 2. Build the app, listen on HOST:PORT, log `{"msg":"listening","port":…,"url":…}`.
 * 3. Register in Consul when CONSUL_HTTP_ADDR is set (bounded retries; exit 1 if they run out,
 *    so the orchestrator restarts the instance rather than leave it running unseen), then check
 *    every CONSUL_RESYNC_INTERVAL_MS that Consul still holds it, registering again if not.
 * 4. On SIGTERM/SIGINT: not ready → deregister → drain (SHUTDOWN_TIMEOUT_MS) → exit 0
 *    (1 if the drain deadline passed or the shutdown was caused by a failure).
 */
import { hostname } from "node:os";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import type { z } from "zod";
import {
  buildRegistration,
  ConsulAgent,
  RegistrationKeeper,
  resolveAdvertiseAddress,
  urlHost,
} from "./consul";
import type { CommonEnv } from "./env";
import { loadEnv } from "./env";
import { createLogger } from "./logger";
import type { ServiceAppContext } from "./service-app";
import type { ShutdownStep } from "./shutdown";
import { errorText, onTerminationSignals, shutdownGracefully } from "./shutdown";

/** What `buildApp` receives from `runService`: the app context with the service's own env type. */
export interface BuildContext<E extends CommonEnv> extends ServiceAppContext {
  /** The validated environment. */
  readonly env: E;
  /**
   * The raw environment `env` was loaded from (`process.env` when unset), for values a service
   * hands on by name, such as the variables a bridged stdio server receives.
   */
  readonly environment?: Readonly<Record<string, string | undefined>>;
}

/** A service as `runService` runs it. */
export interface ServiceDefinition<E extends CommonEnv> {
  /** Package name of the service (`router`, …), used in boot error messages. */
  readonly name: string;
  /** Service version (its package.json's), registered as Consul `Meta.version`. */
  readonly version: string;
  /** The service's environment schema (the common one, extended). */
  readonly envSchema: z.ZodType<E>;
  /** Consul tags. */
  readonly tags?: readonly string[];
  /** Builds the app; must not listen. */
  readonly buildApp: (context: BuildContext<E>) => FastifyInstance | Promise<FastifyInstance>;
  /**
   * When Consul registration at boot fails for good: `required` (default) stops the service
   * (exit 1, so its supervisor restarts it); `keep-trying` serves unregistered and registers once
   * Consul is back (checked every `CONSUL_RESYNC_INTERVAL_MS`), for a service whose job goes on
   * without Consul: the monitor, which must report Consul down rather than crash-loop with it.
   */
  readonly registration?: "required" | "keep-trying";
}

/**
 * Runs a service until it is told to stop, then exits the process. Never rejects: every failure
 * ends in a log line (or, before the logger exists, a line on stderr) and exit code 1.
 */
export async function runService<E extends CommonEnv>(
  definition: ServiceDefinition<E>,
  environment: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  let env: E;
  let advertised: string | undefined;
  try {
    env = loadEnv(definition.envSchema, environment);
    advertised =
      env.CONSUL_HTTP_ADDR === undefined
        ? undefined
        : resolveAdvertiseAddress({ serviceAddress: env.SERVICE_ADDRESS, host: env.HOST });
  } catch (error) {
    process.stderr.write(`${definition.name}: ${oneLine(errorText(error))}\n`);
    process.exitCode = 1;
    return;
  }

  const logger = createLogger({
    service: env.SERVICE_NAME,
    level: env.LOG_LEVEL,
    version: definition.version,
  });
  const consul =
    env.CONSUL_HTTP_ADDR === undefined
      ? undefined
      : new ConsulAgent({ address: env.CONSUL_HTTP_ADDR, token: env.CONSUL_HTTP_TOKEN, logger });
  const startup = new AbortController();
  let registrationId: string | undefined;
  let keeper: RegistrationKeeper | undefined;
  let stopping: Promise<void> | undefined;

  let app: FastifyInstance;
  try {
    app = await definition.buildApp({ env, environment, logger, version: definition.version });
    await app.ready();
  } catch (error) {
    logger.fatal({ err: error }, "cannot build the app");
    process.exit(1);
  }

  const stop = (reason: string, failure: boolean): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason }, "shutting down");
      startup.abort();
      const steps: ShutdownStep[] = [];
      const id = registrationId;
      if (consul !== undefined && id !== undefined) {
        steps.push({
          name: "consul deregistration",
          run: async (signal) => {
            await keeper?.stop();
            await consul.deregister(id, { signal });
          },
        });
      }
      const result = await shutdownGracefully({ app, logger, timeoutMs: env.SHUTDOWN_TIMEOUT_MS, steps });
      const code = failure || result === "forced" ? 1 : 0;
      logger.info({ drain: result, exitCode: code }, "stopped");
      process.exit(code);
    })();
    return stopping;
  };

  onTerminationSignals((signal) => {
    if (stopping !== undefined) logger.warn({ signal }, "shutdown already in progress");
    void stop(signal, false);
  });
  process.on("uncaughtException", (error) => {
    logger.fatal({ err: error }, "uncaught exception");
    void stop("uncaught exception", true);
  });
  process.on("unhandledRejection", (error) => {
    logger.fatal({ err: error }, "unhandled rejection");
    void stop("unhandled rejection", true);
  });

  try {
    await app.listen({ host: env.HOST, port: env.PORT });
  } catch (error) {
    if (stopping !== undefined) return;
    logger.fatal({ err: error, host: env.HOST, port: env.PORT }, "cannot listen");
    await stop("cannot listen", true);
    return;
  }
  const bound = app.server.address() as AddressInfo;
  const url = `http://${urlHost(bound.address)}:${bound.port}`;
  logger.info({ host: bound.address, port: bound.port, url }, "listening");

  if (consul === undefined || advertised === undefined || stopping !== undefined) return;
  const registration = buildRegistration({
    name: env.SERVICE_NAME,
    address: advertised,
    port: bound.port,
    version: definition.version,
    tags: definition.tags ?? [],
    hostname: hostname(),
  });
  // Set before the call: if SIGTERM interrupts it, the PUT may still have reached Consul.
  registrationId = registration.ID;
  /** Checks every CONSUL_RESYNC_INTERVAL_MS that Consul holds the registration; registers if not. */
  const keep = () =>
    new RegistrationKeeper({
      agent: consul,
      registration,
      intervalMs: env.CONSUL_RESYNC_INTERVAL_MS,
      logger,
    });
  try {
    await consul.register(registration, { signal: startup.signal });
    logger.info({ consulId: registration.ID, check: registration.Check.HTTP }, "registered in consul");
    if (stopping === undefined) keeper = keep();
  } catch (error) {
    if (startup.signal.aborted) return;
    if (definition.registration === "keep-trying") {
      logger.error(
        { err: errorText(error), retryMs: env.CONSUL_RESYNC_INTERVAL_MS },
        "consul registration failed; serving unregistered and registering once consul is back",
      );
      keeper = keep();
      return;
    }
    registrationId = undefined;
    logger.fatal({ err: errorText(error) }, "consul registration failed; stopping");
    await stop("consul registration failed", true);
  }
}

/** Keeps a message on one line, as the boot error contract promises. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ");
}
