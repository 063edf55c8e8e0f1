/**
 * The merged-catalog requests this replica is running, by session and request id, so that a
 * client's `notifications/cancelled` (which may reach any replica) can abort the right one.
 */
import type { RequestId } from "@modelcontextprotocol/sdk/types.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { IdleWaiters, requestIdKey } from "@mcp-platform/shared";

/**
 * Why a call was ended by this replica's shutdown, not by its client: unlike a cancellation, it
 * is answered, with this error.
 */
export class EndedByShutdown extends McpError {
  constructor() {
    super(ErrorCode.InternalError, "The router replica is shutting down and ended the call; retry it");
  }
}

/**
 * Whether a request was cancelled by its client, and so gets no response (MCP "Cancellation");
 * one this replica's shutdown ended is answered, with its error.
 */
export function cancelledByClient(signal: AbortSignal): boolean {
  return signal.aborted && !(signal.reason instanceof EndedByShutdown);
}

/** Requests in flight on this replica. */
export class InFlight {
  private readonly running = new Map<string, AbortController>();
  private readonly idle = new IdleWaiters();

  /** Requests running now. */
  get size(): number {
    return this.running.size;
  }

  /**
   * Registers a request; call the returned function when it has finished. Undefined when a
   * request of the session with the same id runs here already: MCP ids are unique within a
   * session, and a cancellation could not tell the two apart.
   */
  begin(session: string, id: RequestId): { signal: AbortSignal; end: () => void } | undefined {
    const key = keyOf(session, id);
    if (this.running.has(key)) return undefined;
    const controller = new AbortController();
    this.running.set(key, controller);
    return {
      signal: controller.signal,
      end: () => {
        if (this.running.get(key) === controller) this.running.delete(key);
        this.idle.wake();
      },
    };
  }

  /** Aborts a request; false when this replica does not run it. */
  cancel(session: string, id: RequestId, reason: string): boolean {
    const controller = this.running.get(keyOf(session, id));
    if (controller === undefined) return false;
    controller.abort(new Error(reason));
    return true;
  }

  /** Aborts every request of `session` running here (its stream closed: no answer can reach it). */
  cancelSession(session: string, reason: string): void {
    const prefix = `${session}\u0000`;
    for (const [key, controller] of this.running) {
      if (key.startsWith(prefix)) controller.abort(new Error(reason));
    }
  }

  /** Ends every request running here (shutdown, past its wait for them); returns how many. */
  endAll(): number {
    for (const controller of this.running.values()) controller.abort(new EndedByShutdown());
    return this.running.size;
  }

  /**
   * Resolves once nothing is in flight (true), or after `timeoutMs` or once `signal` (the
   * shutdown deadline) aborts (false).
   */
  waitIdle(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.idle.wait(() => this.running.size === 0, timeoutMs, signal);
  }
}

function keyOf(session: string, id: RequestId): string {
  return `${session}\u0000${requestIdKey(id)}`;
}
