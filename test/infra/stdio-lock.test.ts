/**
 * The stdio lock (infra/stdio-lock.ts, scripts/stdio-manifest.ts): the committed lock holds every
 * stdio package of the committed stack files and nothing else, a package it lacks is named with
 * the fix, and the program refuses to build without it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  checkStdioLock,
  splitPackageSpec,
  STDIO_LOCK_DIR,
  stdioDependencies,
  unlockedStdioPackages,
} from "../../infra/stdio-lock";
import { stackStdioPackages, stdioManifest } from "../../scripts/stdio-manifest";
import { ADDED_PACKAGE, withAddedService } from "../helpers/configs";
import { runProgram } from "../helpers/pulumi-mocks";
import { ROOT, stackConfigMap } from "../helpers/stack-files";

const committed = (file: string) => readFileSync(join(ROOT, STDIO_LOCK_DIR, file), "utf8");

/** A lockfile holding `packages` (name → version) at its root and in node_modules. */
function lockText(packages: Record<string, string>, rootDependencies = packages): string {
  return JSON.stringify({
    lockfileVersion: 3,
    packages: {
      "": { dependencies: rootDependencies },
      ...Object.fromEntries(Object.entries(packages).map(([n, v]) => [`node_modules/${n}`, { version: v }])),
    },
  });
}

describe("the stdio lock", () => {
  test("the committed manifest is what `npm run stdio:lock` writes for the stack files, and its lock holds each package", () => {
    // GIVEN the committed stack files' stdio packages
    const { stacks, packages } = stackStdioPackages(ROOT);
    expect(stacks).toStrictEqual(["dev", "prod"]);
    expect(packages).toStrictEqual([
      "@modelcontextprotocol/server-everything@2026.8.31",
      "@modelcontextprotocol/server-filesystem@2026.8.31",
      "@modelcontextprotocol/server-memory@2026.8.31",
    ]);
    // THEN the manifest is current (no stale or missing entry) and the lock installs each one
    expect(committed("package.json")).toBe(stdioManifest(packages));
    expect(
      unlockedStdioPackages(packages, committed("package.json"), committed("package-lock.json")),
    ).toEqual([]);
    expect(() => checkStdioLock(packages, ROOT)).not.toThrow();
  });

  test("a package the lock lacks, holds at another version, or that a hand edit put out of sync is named", () => {
    const manifest = (deps: Record<string, string>) => JSON.stringify({ dependencies: deps });
    const locked = { "@scope/a": "1.0.0", b: "2.0.0" };
    // GIVEN a lock in sync with its manifest / THEN locked specs pass, others are named
    expect(
      unlockedStdioPackages(["@scope/a@1.0.0", "b@2.0.0"], manifest(locked), lockText(locked)),
    ).toStrictEqual([]);
    expect(
      unlockedStdioPackages(["@scope/a@1.0.1", "b@2.0.0", "c@1.0.0"], manifest(locked), lockText(locked)),
    ).toStrictEqual(["@scope/a@1.0.1", "c@1.0.0"]);
    // GIVEN a manifest edited by hand after locking / THEN nothing counts as locked
    const edited = { ...locked, c: "1.0.0" };
    expect(unlockedStdioPackages(["b@2.0.0"], manifest(edited), lockText(locked))).toStrictEqual(["b@2.0.0"]);
  });

  test("specs split at the version's @, and one package cannot be pinned twice", () => {
    expect(splitPackageSpec("@scope/name@1.2.3")).toStrictEqual({ name: "@scope/name", version: "1.2.3" });
    expect(() => splitPackageSpec("@scope/name")).toThrow("is not name@version");
    expect(stdioDependencies(["b@1.0.0", "@s/a@2.0.0", "b@1.0.0"])).toStrictEqual({
      "@s/a": "2.0.0",
      b: "1.0.0",
    });
    expect(() => stdioDependencies(["b@1.0.0", "b@1.0.1"])).toThrow(
      "b is pinned at both 1.0.0 and 1.0.1; one image holds one version",
    );
  });

  test("the check names the missing package and the command, and a missing lock", () => {
    // GIVEN a checkout whose lock holds only `a`
    const root = mkdtempSync(join(tmpdir(), "stdio-lock-"));
    try {
      const dir = join(root, STDIO_LOCK_DIR);
      expect(() => checkStdioLock(["a@1.0.0"], root)).toThrow(
        `${STDIO_LOCK_DIR}/package.json is missing; run \`npm run stdio:lock\``,
      );
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "package.json"), JSON.stringify({ dependencies: { a: "1.0.0" } }));
      writeFileSync(join(dir, "package-lock.json"), lockText({ a: "1.0.0" }));
      // WHEN checked / THEN `a` passes, `b` is named with the fix, and no stdio package needs no lock
      expect(() => checkStdioLock(["a@1.0.0"], root)).not.toThrow();
      expect(() => checkStdioLock(["a@1.0.0", "b@3.0.0"], root)).toThrow(
        `the stdio package(s) b@3.0.0 of the stack config are not in ${STDIO_LOCK_DIR}/package-lock.json, ` +
          "which the mcp-server image installs from; run `npm run stdio:lock` and commit both files",
      );
      expect(() => checkStdioLock([], join(root, "nowhere"))).not.toThrow();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("the program refuses a stack whose stdio package is not locked, before building anything", async () => {
    // GIVEN the dev stack with a service whose package the committed lock lacks
    // WHEN the program runs / THEN it fails naming the package and the command
    await expect(runProgram("dev", withAddedService(stackConfigMap("dev")))).rejects.toThrow(
      `the stdio package(s) ${ADDED_PACKAGE} of the stack config are not in`,
    );
  });
});
