/**
 * A child process's output as parsed log lines, with waits on them: a caller waits for an event
 * such as `{"msg":"listening"}` instead of sleeping. Shared by the local launcher (`npm run
 * local`, the e2e tests, the gateway bench) and the tests' single-service helper.
 */

/** A parsed JSON log line (`{ raw }` for lines that are not JSON). */
export type LogLine = Record<string, unknown>;

/** How a process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One output line, parsed when it is a JSON object. */
export function parseLine(text: string): LogLine {
  // HAProxy's access lines are plain text; only the services' JSON lines are worth parsing.
  if (!text.startsWith("{")) return { raw: text };
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed as LogLine;
  } catch {
    // not JSON
  }
  return { raw: text };
}

/** The lines of one process, and the waits on them. */
export class LogLines {
  /** Parsed lines so far (only the last `keep` when a limit is set). */
  readonly lines: LogLine[] = [];
  private readonly waiters = new Set<{
    predicate: (line: LogLine) => boolean;
    resolve: (line: LogLine) => void;
  }>();

  /**
   * @param exited resolves when the process has exited; a wait still open then is rejected.
   * @param failure the error for a wait the exit left unanswered.
   * @param keep how many lines to keep (a long `npm run local`); all when unset.
   */
  constructor(
    private readonly exited: Promise<ExitStatus>,
    private readonly failure: (status: ExitStatus) => Error,
    private readonly keep?: number,
  ) {}

  /** Adds one output line and answers the waits it matches. */
  push(text: string): void {
    const line = parseLine(text);
    this.lines.push(line);
    if (this.keep !== undefined && this.lines.length > this.keep) {
      this.lines.splice(0, this.lines.length - this.keep);
    }
    for (const waiter of this.waiters) {
      if (!waiter.predicate(line)) continue;
      this.waiters.delete(waiter);
      waiter.resolve(line);
    }
  }

  /** Resolves with the first line (seen or to come) matching `predicate`; rejects if the process exits first. */
  waitFor(predicate: (line: LogLine) => boolean): Promise<LogLine> {
    const seen = this.lines.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { predicate, resolve };
      this.waiters.add(waiter);
      void this.exited.then((status) => {
        if (this.waiters.delete(waiter)) reject(this.failure(status));
      });
    });
  }
}
