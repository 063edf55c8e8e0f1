/**
 * The mcp-server's tool metrics keep their labels bounded: made-up tool names a client calls
 * cannot take the places real tools need.
 */
import { Registry } from "prom-client";
import { MAX_TOOL_LABELS, McpMetrics } from "../../../services/mcp-server/src/metrics";

describe("tool call metrics", () => {
  it("label a tool by name once it exists; made-up names count as other and take no place", async () => {
    // GIVEN metrics, and more calls of made-up names than there are places (errors, cancellations)
    const registry = new Registry();
    const metrics = new McpMetrics(registry);
    for (let i = 0; i < MAX_TOOL_LABELS + 50; i++) {
      metrics.callEnded("tools/call", `made-up-${i}`, i % 2 === 0 ? "error" : "cancelled", 0.001);
    }

    // WHEN real tools are called, one answering, one failing as a tool, one whose server crashed
    metrics.callEnded("tools/call", "echo", "ok", 0.001);
    metrics.callEnded("tools/call", "search", "tool_error", 0.001);
    metrics.callEnded("tools/call", "long-task", "crashed", 0.001);
    // AND a made-up name again, and a real tool failing after it was seen
    metrics.callEnded("tools/call", "made-up-0", "error", 0.001);
    metrics.callEnded("tools/call", "echo", "error", 0.001);

    // THEN the real tools have their own series and every made-up call counts as other
    const counts = (await registry.getSingleMetricAsString("mcp_tool_calls_total"))
      .split("\n")
      .filter((line) => line.startsWith("mcp_tool_calls_total{"))
      .sort();
    expect(counts).toStrictEqual([
      'mcp_tool_calls_total{tool="echo",outcome="error"} 1',
      'mcp_tool_calls_total{tool="echo",outcome="ok"} 1',
      'mcp_tool_calls_total{tool="long-task",outcome="crashed"} 1',
      'mcp_tool_calls_total{tool="other",outcome="cancelled"} 75',
      'mcp_tool_calls_total{tool="other",outcome="error"} 76',
      'mcp_tool_calls_total{tool="search",outcome="tool_error"} 1',
    ]);
  });
});
