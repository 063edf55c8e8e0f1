/**
 * The lock of the stdio MCP servers baked into the mcp-server image. The stack config pins each
 * package's own version; `services/mcp-server/stdio/package-lock.json` pins everything those
 * packages depend on, so two builds of the same commit install the same code (a plain
 * `npm install name@x.y.z` would resolve their dependencies' ranges afresh at every build).
 *
 * `npm run stdio:lock` writes the manifest from every stack file's stdio packages and locks it.
 * The program refuses to build with a stdio package the lock does not hold, before anything is
 * built, naming the package and the command.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** Where the manifest and lock live, relative to the repository root (the image build context). */
export const STDIO_LOCK_DIR = "services/mcp-server/stdio";

/** The command that rewrites the manifest and the lock from the stack files. */
export const STDIO_LOCK_COMMAND = "npm run stdio:lock";

/** `name@x.y.z` (scoped names keep their leading `@`) as name and version. */
export function splitPackageSpec(spec: string): { name: string; version: string } {
  const at = spec.lastIndexOf("@");
  if (at <= 0) throw new Error(`${JSON.stringify(spec)} is not name@version`);
  return { name: spec.slice(0, at), version: spec.slice(at + 1) };
}

/** The manifest's `dependencies` for a set of `name@version` specs, sorted by name. */
export function stdioDependencies(specs: readonly string[]): Record<string, string> {
  const dependencies: Record<string, string> = {};
  for (const { name, version } of specs.map(splitPackageSpec).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const other = dependencies[name];
    if (other !== undefined && other !== version) {
      throw new Error(`${name} is pinned at both ${other} and ${version}; one image holds one version`);
    }
    dependencies[name] = version;
  }
  return dependencies;
}

interface Lockfile {
  readonly packages?: Record<string, { readonly version?: string; readonly dependencies?: unknown }>;
}

/**
 * The specs the lock does not install as written: not a dependency of the manifest, or the lock
 * (written for another manifest) has it at another version or not at all.
 */
export function unlockedStdioPackages(
  specs: readonly string[],
  manifestText: string,
  lockText: string,
): string[] {
  const manifest = JSON.parse(manifestText) as { dependencies?: Record<string, string> };
  const lock = JSON.parse(lockText) as Lockfile;
  const declared = manifest.dependencies ?? {};
  const locked = lock.packages ?? {};
  const entries = (deps: unknown) =>
    JSON.stringify(
      Object.entries((deps ?? {}) as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
    );
  // A lock written for another manifest (edited by hand since) would install something else.
  const inSync = entries(locked[""]?.dependencies) === entries(declared);
  return specs.filter((spec) => {
    const { name, version } = splitPackageSpec(spec);
    return !inSync || declared[name] !== version || locked[`node_modules/${name}`]?.version !== version;
  });
}

/** Throws, naming the fix, unless the lock under `root` holds every spec. */
export function checkStdioLock(specs: readonly string[], root: string): void {
  if (specs.length === 0) return;
  const dir = join(root, STDIO_LOCK_DIR);
  const read = (file: string) => {
    try {
      return readFileSync(join(dir, file), "utf8");
    } catch {
      throw new Error(`${STDIO_LOCK_DIR}/${file} is missing; run \`${STDIO_LOCK_COMMAND}\``);
    }
  };
  const missing = unlockedStdioPackages(specs, read("package.json"), read("package-lock.json"));
  if (missing.length > 0) {
    throw new Error(
      `the stdio package(s) ${missing.join(", ")} of the stack config are not in ` +
        `${STDIO_LOCK_DIR}/package-lock.json, which the mcp-server image installs from; ` +
        `run \`${STDIO_LOCK_COMMAND}\` and commit both files`,
    );
  }
}
