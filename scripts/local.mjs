#!/usr/bin/env node
// `npm run local`: the whole platform on this machine, no Docker. HAProxy (from PATH) with the
// static-servers config rendered from the dev stack's topology, router replicas, every MCP
// service of the catalog and the network monitor, all as processes on 127.0.0.1. Prints the
// gateway URL and how to connect; Ctrl-C (also while starting) stops everything and exits 0.
//
//   npm run local -- [--routers N] [--services a,b] [--instances N] [--random-ports] [--debug]
import "./require-node.mjs";
import { parseArgs } from "node:util";
import { loadLauncher, root } from "./local/load-launcher.mjs";

const USAGE =
  "usage: npm run local -- [--routers N] [--services a,b] [--instances N] [--random-ports] [--debug]";
let values;
try {
  ({ values } = parseArgs({
    options: {
      routers: { type: "string" },
      services: { type: "string" },
      instances: { type: "string" },
      "random-ports": { type: "boolean", default: false },
      debug: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }));
} catch (error) {
  process.stderr.write(`${error.message}\n${USAGE}\n`);
  process.exit(2);
}
const HELP = `${USAGE}

  --routers N       router replicas (1-16; default: the dev stack's, 2)
  --services a,b    catalog ids of the MCP services to run (default: all of Pulumi.dev.yaml's:
                    files, memory, everything, echo)
  --instances N     mcp-server instances per service (1-16; default: each service's replicas);
                    a singleton such as memory always runs one
  --random-ports    every port free and random, instead of the dev stack's (3000, 11099, ...)
  --debug           the services log at debug level (their logs: <work dir>/logs/)
  -h, --help        this text
`;
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

/** A usage error: the message and the usage line, exit 2. */
const usageError = (message) => {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
};

/** `--routers`/`--instances`: plain decimal digits only (no `0x2`, `1e0` or `2.0`), 1 to 16. */
const count = (text, name) => {
  if (text === undefined) return undefined;
  const n = /^\d{1,2}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 16))
    usageError(`--${name} must be an integer from 1 to 16 (got ${JSON.stringify(text)})`);
  return n;
};

const routers = count(values.routers, "routers");
const instances = count(values.instances, "instances");
const services = values.services
  ?.split(",")
  .map((s) => s.trim())
  .filter(Boolean);
if (services?.length === 0) usageError("--services needs at least one service id (such as echo)");

const say = (message) => process.stdout.write(`  ${message}\n`);

// Handlers first: Ctrl-C (or a closed terminal) while starting stops what was started too; the
// processes run in their own groups and would otherwise outlive this one.
const starting = new AbortController();
let platform;
let stopping = false;
const shutdown = async (signal) => {
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping…`);
  if (platform === undefined) {
    starting.abort();
    return; // the launch stops what it started, then fails; the catch below exits
  }
  await platform.stop();
  say("stopped");
  process.exit(0);
};
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => void shutdown(signal));

const { launchPlatform } = await loadLauncher();
try {
  platform = await launchPlatform({
    root,
    routers,
    instances,
    services,
    ports: values["random-ports"] ? "random" : "topology",
    logLevel: values.debug ? "debug" : "info",
    keepLines: false,
    logFiles: true,
    signal: starting.signal,
    say,
    // While starting, a process that exits fails the launch, whose error shows its last lines
    // (the work directory, logs included, is removed then); once up, its log file stays.
    onExit: (proc, status) =>
      say(
        `! ${proc.name} exited (${status.signal ?? `code ${status.code}`})` +
          (platform === undefined ? "" : `; see ${platform.workDir}/logs/${proc.name}.log`),
      ),
  });
} catch (error) {
  if (starting.signal.aborted) {
    say("stopped");
    process.exit(0);
  }
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

const gw = platform.gatewayUrl;
const lines = [
  "",
  `MCP Platform is up (no Docker). Gateway: ${gw}/mcp`,
  "",
  `  Streamable HTTP   ${gw}/mcp            (the merged catalog: tools named <service>__<tool>)`,
  `  Legacy SSE        ${gw}/sse`,
  ...Object.keys(platform.services).map(
    (id) =>
      `  ${id.padEnd(17)} ${gw}/services/${id}/mcp   (one service, transparently; direct: ${platform.serviceUrls[id]}/mcp)`,
  ),
  `  HAProxy stats     ${platform.statsUrl}/`,
  ...(platform.monitorUrl === undefined ? [] : [`  Monitor           ${platform.monitorUrl}/`]),
  `  Routers           ${platform.routers.map((r) => r.url).join("  ")}`,
  `  Logs              ${platform.workDir}/logs/`,
  ...platform.notes.map((note) => `  note: ${note}`),
  "",
  "Connect a client:",
  `  Claude Code   claude mcp add --transport http mcp-platform ${gw}/mcp`,
  `  Cursor        ~/.cursor/mcp.json: {"mcpServers": {"mcp-platform": {"url": "${gw}/mcp"}}}`,
  `  curl          curl -si ${gw}/mcp -H 'content-type: application/json' \\`,
  `                  -H 'accept: application/json, text/event-stream' \\`,
  `                  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'`,
  "",
  "Ctrl-C stops everything.",
  "",
];
process.stdout.write(lines.join("\n"));
