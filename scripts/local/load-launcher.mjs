// Loads TypeScript modules of the repository from plain Node scripts (`npm run local`, the
// gateway bench, `npm run stdio:lock`): esbuild (a dev dependency, as for the service builds)
// bundles one with the infra modules it reads (config, topology, HAProxy rendering) into one
// CommonJS file under node_modules/.cache, where its npm imports (yaml, zod) resolve from the
// repository's node_modules (the workspace's own TypeScript kit, `@mcp-platform/shared`, is
// bundled too).
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** The repository root. */
export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The module at `entry` (a path relative to the repository root), bundled and loaded. */
export async function loadModule(entry) {
  const outfile = join(root, "node_modules", ".cache", "mcp-platform", `${basename(entry, ".ts")}.cjs`);
  await build({
    entryPoints: [join(root, entry)],
    outfile,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node22",
    packages: "external",
    // The services' shared kit is TypeScript (the stack config checks a service's env with the
    // mcp-server's own schema, which uses it): bundled, not left to Node to load.
    alias: { "@mcp-platform/shared": join(root, "services/shared/src/index.ts") },
    logLevel: "warning",
  });
  return createRequire(import.meta.url)(outfile);
}

/** The launcher module (`launchPlatform`, `stackTopology`, …). */
export function loadLauncher() {
  return loadModule("scripts/local/launcher.ts");
}
