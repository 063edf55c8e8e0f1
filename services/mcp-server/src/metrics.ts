/**
 * The mcp-server's own metrics, next to the shared HTTP ones, with bounded labels: tool names
 * are capped (a server with hundreds of tools, or a client sending random names, cannot blow up
 * the series count) and methods outside MCP's set are folded into `other`.
 */
import { Counter, Gauge, Histogram } from "prom-client";
import type { Registry } from "prom-client";
import type { CallObserver, CallOutcome } from "./bridge/multiplexer";

/** Distinct tool label values kept before the rest are counted as `other`. */
export const MAX_TOOL_LABELS = 100;

const MCP_METHODS = new Set([
  "tools/call",
  "tools/list",
  "prompts/get",
  "prompts/list",
  "resources/list",
  "resources/read",
  "resources/templates/list",
  "resources/subscribe",
  "resources/unsubscribe",
  "completion/complete",
]);

/** The mcp-server metrics, registered on the app's registry. */
export class McpMetrics implements CallObserver {
  readonly toolCalls: Counter<"tool" | "outcome">;
  readonly toolDuration: Histogram<"tool">;
  readonly requests: Counter<"method" | "outcome">;
  readonly sessions: Gauge<"transport">;
  readonly restarts: Counter;
  readonly queueDepth: Gauge;
  readonly linksUp: Gauge;
  private readonly toolLabels = new Set<string>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.toolCalls = new Counter({
      name: "mcp_tool_calls_total",
      help: "Tool calls by tool and outcome (ok, tool_error, error, crashed, cancelled).",
      labelNames: ["tool", "outcome"],
      registers,
    });
    this.toolDuration = new Histogram({
      name: "mcp_tool_call_duration_seconds",
      help: "Tool call duration from forwarding to answer.",
      labelNames: ["tool"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.requests = new Counter({
      name: "mcp_requests_total",
      help: "MCP requests forwarded to the tool server, by method and outcome.",
      labelNames: ["method", "outcome"],
      registers,
    });
    this.sessions = new Gauge({
      name: "mcp_sessions_active",
      help: "Open client sessions by transport.",
      labelNames: ["transport"],
      registers,
    });
    this.restarts = new Counter({
      name: "mcp_bridge_child_restarts_total",
      help: "Restarts of tool server processes after they went down.",
      registers,
    });
    this.queueDepth = new Gauge({
      name: "mcp_bridge_queue_depth",
      help: "Requests waiting for a tool server process to come up.",
      registers,
    });
    this.linksUp = new Gauge({
      name: "mcp_bridge_processes_up",
      help: "Tool server processes up.",
      registers,
    });
    for (const transport of ["streamable-http", "sse"]) this.sessions.set({ transport }, 0);
  }

  /**
   * The label for a tool name: itself while under the cap and well-formed, else `other`. A name
   * takes one of the capped places only once a call of it showed the tool exists (it answered, or
   * its server crashed running it): a client calling made-up names (an error, or a call it
   * cancelled) cannot use them up.
   */
  toolLabel(tool: string, outcome: CallOutcome): string {
    if (this.toolLabels.has(tool)) return tool;
    if (outcome === "error" || outcome === "cancelled") return "other";
    if (!/^[\w.-]{1,64}$/.test(tool) || this.toolLabels.size >= MAX_TOOL_LABELS) return "other";
    this.toolLabels.add(tool);
    return tool;
  }

  /** Records the end of a forwarded call. */
  callEnded(method: string, tool: string | undefined, outcome: CallOutcome, seconds: number): void {
    this.requests.inc({ method: MCP_METHODS.has(method) ? method : "other", outcome });
    if (tool === undefined) return;
    const label = this.toolLabel(tool, outcome);
    this.toolCalls.inc({ tool: label, outcome });
    this.toolDuration.observe({ tool: label }, seconds);
  }
}
