// Loads scripts/local/launcher.ts from plain Node scripts (`npm run local`, the gateway bench):
// esbuild (a dev dependency, as for the service builds) bundles it with the infra modules it
// reads (config, topology, HAProxy rendering) into one CommonJS file under node_modules/.cache,
// where its npm imports (yaml, zod) resolve from the repository's node_modules.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** The repository root. */
export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The launcher module (`launchPlatform`, `stackTopology`, …). */
export async function loadLauncher() {
  const outfile = join(root, "node_modules", ".cache", "mcp-platform", "launcher.cjs");
  await build({
    entryPoints: [join(root, "scripts", "local", "launcher.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node22",
    packages: "external",
    logLevel: "warning",
  });
  return createRequire(import.meta.url)(outfile);
}
