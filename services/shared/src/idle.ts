/**
 * Waiting for "nothing in flight" during a shutdown: the router's calls, the mcp-server's
 * forwarded requests. A waiter gives up at its own timeout or when the shutdown deadline (a
 * signal) passes, whichever comes first.
 */

/** Wakes waiters when work ends; each waiter checks whether it is idle now. */
export class IdleWaiters {
  private readonly waiters = new Set<() => void>();

  /**
   * Resolves true once `idle()` holds (checked now and whenever `wake` is called), or false
   * after `timeoutMs` or once `signal` aborts.
   */
  wait(idle: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (idle()) return Promise.resolve(true);
    if (signal?.aborted === true) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (result: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        signal?.removeEventListener("abort", late);
        resolve(result);
      };
      const check = () => {
        if (idle()) done(true);
      };
      const late = () => done(false);
      const timer = setTimeout(late, timeoutMs);
      this.waiters.add(check);
      signal?.addEventListener("abort", late, { once: true });
    });
  }

  /** Work ended somewhere: waiters check whether they are idle now. */
  wake(): void {
    for (const check of [...this.waiters]) check();
  }
}
