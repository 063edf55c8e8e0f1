/** Reads what an env schema rejected, for the services' env tests. */
import { EnvError } from "@mcp-platform/shared";

/** The issues of the EnvError `run` throws, as [path, message, shown value]. */
export function envIssues(run: () => unknown): string[][] {
  try {
    run();
  } catch (error) {
    if (error instanceof EnvError) return error.issues.map((i) => [i.path, i.message, i.shownValue]);
    throw error;
  }
  throw new Error("expected an EnvError");
}
