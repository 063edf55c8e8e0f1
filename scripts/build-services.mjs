#!/usr/bin/env node
// Builds every service (or the ones named on the command line) to services/<svc>/dist/main.js.
// The service's own code and services/shared are bundled; npm dependencies stay external so
// the image installs them as production dependencies from the lockfile.
import { build } from "esbuild";
import { readFileSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const all = ["router", "mcp-server", "network-monitor"];
const wanted = process.argv.slice(2);
const unknown = wanted.filter((s) => !all.includes(s));
if (unknown.length > 0) {
  console.error(`unknown service(s): ${unknown.join(", ")}; expected one of ${all.join(", ")}`);
  process.exit(2);
}

/** npm dependencies of a workspace package, which stay external to the bundle. */
function dependenciesOf(dir) {
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  return Object.keys(pkg.dependencies ?? {}).filter((name) => !name.startsWith("@mcp-platform/"));
}

const shared = dependenciesOf(join(root, "services/shared"));
for (const svc of wanted.length > 0 ? wanted : all) {
  const dir = join(root, "services", svc);
  const entry = join(dir, "src/main.ts");
  if (!existsSync(entry)) throw new Error(`${entry} does not exist`);
  await build({
    entryPoints: [entry],
    outfile: join(dir, "dist/main.js"),
    bundle: true,
    platform: "node",
    target: "node22",
    format: "cjs",
    sourcemap: true,
    logLevel: "warning",
    alias: { "@mcp-platform/shared": join(root, "services/shared/src/index.ts") },
    external: [...new Set([...shared, ...dependenciesOf(dir)])],
  });
  console.log(`built services/${svc}/dist/main.js`);
}
