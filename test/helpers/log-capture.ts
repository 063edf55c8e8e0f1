/**
 * Loggers for tests: a silent one, and one that keeps every line it writes (parsed) so a test
 * can assert on what a component logged.
 */
import type { Logger, LogLevel } from "@mcp-platform/shared";
import { createLogger } from "@mcp-platform/shared";

/** A logger that writes nothing. */
export function silentLogger(): Logger {
  return createLogger({ service: "test", level: "silent" });
}

/** A logger whose lines land, parsed, in `lines`. */
export function capturingLogger(level: LogLevel = "info"): {
  logger: Logger;
  lines: Record<string, unknown>[];
} {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    service: "test",
    level,
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  });
  return { logger, lines };
}

/** The given fields of each line, for exact comparison without timestamps. */
export function fields(
  lines: readonly Record<string, unknown>[],
  keys: readonly string[],
): Record<string, unknown>[] {
  return lines.map((line) =>
    Object.fromEntries(keys.filter((key) => key in line).map((key) => [key, line[key]])),
  );
}
