/**
 * A bounded pool of long-lived links (`MCP_BRIDGE_PROCESSES`), each initialized once. A link that
 * goes down is restarted with exponential backoff; the pool is ready while at least one link is
 * up. Work goes to the link with the fewest requests in flight; while none is up, callers wait in
 * a bounded queue.
 */
import type { InitializeResult } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import type { Link } from "./link";
import { deliverEarlyMessages, initializeLink } from "./link";

/** One running, initialized link and its load. */
export interface Slot {
  readonly index: number;
  readonly link: Link;
  inFlight: number;
  /** When it came up (ms, monotonic). */
  readonly upSince: number;
}

/** A link that stayed up this long before going down starts its restart backoff afresh. */
export const STABLE_AFTER_MS = 30_000;

/** Pool settings. */
export interface PoolOptions {
  readonly size: number;
  /** Starts the link of slot `index` for its `generation`-th time. */
  readonly start: (index: number, generation: number) => Link | Promise<Link>;
  readonly logger: Logger;
  readonly initializeTimeoutMs?: number;
  /** First restart delay; doubles per consecutive failure up to `maxBackoffMs`. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /**
   * Most requests one link has in flight at once (unset: no limit). 1 for a server that keeps its
   * data in a file it reads and rewrites per call (server-memory): concurrent calls would lose
   * each other's writes. Requests beyond it wait in the queue.
   */
  readonly perLinkLimit?: number;
  /** Requests allowed to wait for a link (none up, or every one at its limit), and for how long. */
  readonly queueLimit?: number;
  readonly queueTimeoutMs?: number;
  /** Hooks for metrics and routing. */
  readonly onSlotUp?: (slot: Slot) => void;
  readonly onSlotDown?: (slot: Slot, cause: string) => void;
  readonly onRestart?: () => void;
  readonly onQueueDepth?: (depth: number) => void;
}

interface Waiter {
  readonly resolve: (slot: Slot) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** Raised when no link can take a request. */
export class PoolUnavailableError extends Error {}

/** The pool. `start()` launches every slot; `close()` stops them and their process groups. */
export class LinkPool {
  private readonly slots: (Slot | undefined)[];
  private readonly failures: number[];
  private readonly generations: number[];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiters: Waiter[] = [];
  /** Links started but not yet initialized, so `close()` can stop them too. */
  private readonly starting = new Set<Link>();
  private closed = false;
  private initResult: InitializeResult | undefined;

  constructor(private readonly options: PoolOptions) {
    this.slots = Array.from({ length: options.size }, () => undefined);
    this.failures = Array.from({ length: options.size }, () => 0);
    this.generations = Array.from({ length: options.size }, () => 0);
  }

  /** The first successful `initialize` result: what clients are told about the server. */
  get initializeResult(): InitializeResult | undefined {
    return this.initResult;
  }

  /** Number of links up. */
  get upCount(): number {
    return this.slots.filter((s) => s !== undefined).length;
  }

  /** Requests waiting for a link. */
  get queueDepth(): number {
    return this.waiters.length;
  }

  /** Launch every slot. Resolves when each has either come up or failed its first start. */
  async start(): Promise<void> {
    await Promise.all(this.slots.map((_, i) => this.launch(i)));
  }

  private async launch(index: number): Promise<void> {
    if (this.closed) return;
    const generation = ++this.generations[index]!;
    const { logger } = this.options;
    let link: Link | undefined;
    try {
      link = await this.options.start(index, generation);
      this.starting.add(link);
      const result = await initializeLink(link, this.options.initializeTimeoutMs ?? 30_000).finally(() =>
        this.starting.delete(link!),
      );
      this.initResult ??= result;
      if (this.closed) {
        await link.close();
        return;
      }
      const slot: Slot = { index, link, inFlight: 0, upSince: performance.now() };
      this.slots[index] = slot;
      link.onexit = (cause) => this.down(slot, cause);
      logger.info({ link: link.name, server: result.serverInfo }, "bridge link up");
      this.options.onSlotUp?.(slot);
      deliverEarlyMessages(link);
      this.drainWaiters();
    } catch (error) {
      logger.error({ link: link?.name ?? `slot ${index}`, err: error }, "bridge link failed to start");
      await link?.close().catch(() => undefined);
      this.scheduleRestart(index);
    }
  }

  private down(slot: Slot, cause: string): void {
    if (this.slots[slot.index] !== slot) return;
    this.slots[slot.index] = undefined;
    // A child that crashes soon after every start keeps backing off instead of looping.
    if (performance.now() - slot.upSince >= STABLE_AFTER_MS) this.failures[slot.index] = 0;
    this.options.logger.error({ link: slot.link.name, cause }, "bridge link went down");
    this.options.onSlotDown?.(slot, cause);
    this.scheduleRestart(slot.index);
  }

  private scheduleRestart(index: number): void {
    if (this.closed) return;
    const attempt = this.failures[index]!++;
    const delay = Math.min(
      (this.options.initialBackoffMs ?? 250) * 2 ** attempt,
      this.options.maxBackoffMs ?? 10_000,
    );
    this.options.logger.info({ slot: index, delayMs: delay }, "restarting bridge link");
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.options.onRestart?.();
      void this.launch(index);
    }, delay);
    this.timers.add(timer);
  }

  /**
   * The live slot with the fewest requests in flight, or undefined when none is up (or every
   * one is at `perLinkLimit`).
   */
  pick(): Slot | undefined {
    let best: Slot | undefined;
    const limit = this.options.perLinkLimit ?? Number.POSITIVE_INFINITY;
    for (const s of this.slots)
      if (s !== undefined && s.inFlight < limit && (best === undefined || s.inFlight < best.inFlight))
        best = s;
    return best;
  }

  /**
   * A slot for one request, reserved for it (counted in `inFlight` at once, so the requests of
   * one batch spread over the children): at once when one is up, else after waiting in the
   * bounded queue. A request that ends up not sent gives its slot back with `release`.
   */
  acquire(): Promise<Slot> {
    const slot = this.pick();
    if (slot !== undefined) return Promise.resolve(reserve(slot));
    if (this.closed) return Promise.reject(new PoolUnavailableError("the tool server is shutting down"));
    if (this.waiters.length >= (this.options.queueLimit ?? 1000)) {
      return Promise.reject(
        new PoolUnavailableError(`the tool server is ${this.state()} and its queue is full`),
      );
    }
    return new Promise((resolve, reject) => {
      const timeoutMs = this.options.queueTimeoutMs ?? 30_000;
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.removeWaiter(waiter);
          const why = this.upCount > 0 ? "took the request" : "came up";
          reject(new PoolUnavailableError(`no tool server process ${why} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
      this.options.onQueueDepth?.(this.waiters.length);
    });
  }

  private removeWaiter(waiter: Waiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i >= 0) this.waiters.splice(i, 1);
    this.options.onQueueDepth?.(this.waiters.length);
  }

  private drainWaiters(): void {
    while (this.waiters.length > 0) {
      const slot = this.pick();
      if (slot === undefined) break;
      const waiter = this.waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(reserve(slot));
    }
    this.options.onQueueDepth?.(this.waiters.length);
  }

  /** Ends one request's use of `slot` (answered, failed, or never sent); a waiter may take it. */
  release(slot: Slot): void {
    slot.inFlight--;
    if (this.waiters.length > 0) this.drainWaiters();
  }

  /** Why requests wait: every live link busy at its limit, or none up. */
  private state(): string {
    return this.upCount > 0 ? "busy" : "restarting";
  }

  /** Every live slot. */
  liveSlots(): Slot[] {
    return this.slots.filter((s): s is Slot => s !== undefined);
  }

  /** Stop restarting, fail waiters, and close every link (killing process groups). */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new PoolUnavailableError("the tool server is shutting down"));
    }
    const links = [...this.liveSlots().map((s) => s.link), ...this.starting];
    this.slots.fill(undefined);
    await Promise.all(links.map((link) => link.close()));
  }
}

/** Counts one more request on `slot`. */
function reserve(slot: Slot): Slot {
  slot.inFlight++;
  return slot;
}
