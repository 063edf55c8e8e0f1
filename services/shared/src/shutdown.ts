/**
 * Graceful shutdown (DESIGN.md "Service contracts"): on SIGTERM a service stops being ready,
 * deregisters from Consul, then drains in-flight requests, then exits.
 *
 * Order matters: readiness goes false first so probes stop routing to the instance, Consul
 * deregistration removes it from the router's and HAProxy's view, and only then does the server
 * stop accepting and wait for what is already running, up to a deadline.
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";

/** Signals that start a graceful shutdown: Docker/Kubernetes send SIGTERM, a terminal SIGINT. */
export const TERMINATION_SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT"];

/** Work done after readiness goes false and before the server closes, e.g. deregistration. */
export interface ShutdownStep {
  /** Name used in log lines. */
  readonly name: string;
  /** Runs the step; `signal` aborts when the shutdown deadline passes. */
  readonly run: (signal: AbortSignal) => Promise<void>;
}

/** Options of `shutdownGracefully`. */
export interface GracefulShutdownOptions {
  /** The app to drain; its `readiness` is marked shutting down first. */
  readonly app: FastifyInstance;
  /** Where progress is logged. */
  readonly logger: Logger;
  /** Total budget from the start of shutdown until connections are closed by force. */
  readonly timeoutMs: number;
  /**
   * Steps run in order before the server closes, followed by the app's own `beforeClose` steps;
   * a failing step is logged and skipped.
   */
  readonly steps?: readonly ShutdownStep[];
}

/** `drained`: every in-flight request finished. `forced`: the deadline passed first. */
export type ShutdownResult = "drained" | "forced";

/**
 * Marks the app not ready, runs `steps` and then the app's `beforeClose` steps, then closes the
 * app, waiting for in-flight requests until `timeoutMs` (counted from the call) has passed,
 * after which open connections are destroyed.
 */
export async function shutdownGracefully(options: GracefulShutdownOptions): Promise<ShutdownResult> {
  const deadline = Date.now() + options.timeoutMs;
  const { app, logger } = options;
  if (app.hasDecorator("readiness")) app.readiness.markShuttingDown();
  const budget = AbortSignal.timeout(Math.max(1, options.timeoutMs));
  const own = app.hasDecorator("beforeClose") ? app.beforeClose : [];
  for (const step of [...(options.steps ?? []), ...own]) {
    try {
      await step.run(budget);
      logger.info({ step: step.name }, "shutdown step done");
    } catch (error) {
      // Keep going: a Consul that cannot be reached must not stop the drain. Its check will
      // turn critical and DeregisterCriticalServiceAfter removes the entry.
      logger.warn({ step: step.name, err: errorText(error) }, "shutdown step failed");
    }
  }
  return closeWithin(app, Math.max(0, deadline - Date.now()), logger, options.timeoutMs);
}

/**
 * Closes `app` (fastify stops accepting, answers 503 on kept-alive sockets and waits for
 * in-flight requests); if that takes longer than `timeoutMs`, destroys every open connection.
 */
export async function closeWithin(
  app: FastifyInstance,
  timeoutMs: number,
  logger: Logger,
  /** The whole shutdown budget, as configured, for the log line (`timeoutMs` is what is left). */
  budgetMs: number = timeoutMs,
): Promise<ShutdownResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<ShutdownResult>((resolve) => {
    timer = setTimeout(() => resolve("forced"), timeoutMs);
  });
  const closed = app.close().then((): ShutdownResult => "drained");
  const result = await Promise.race([closed, deadline]);
  clearTimeout(timer);
  if (result === "forced") {
    logger.warn({ timeoutMs: budgetMs }, "drain deadline passed; closing open connections");
    app.server.closeAllConnections();
  }
  return result;
}

/**
 * Calls `handler` on every termination signal (not only the first: a repeated Ctrl-C must not
 * kill the process with the default handler while it drains). Returns a function that removes
 * the listeners.
 */
export function onTerminationSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  for (const signal of TERMINATION_SIGNALS) process.on(signal, handler);
  return () => {
    for (const signal of TERMINATION_SIGNALS) process.off(signal, handler);
  };
}

/** An error's message for a log field, whatever was thrown. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
