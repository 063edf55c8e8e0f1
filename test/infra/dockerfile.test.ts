/**
 * services/Dockerfile, the one file every service image is built from, checked against the repo
 * it builds (there is no Docker engine here to build it): the workspaces it copies, the services
 * it accepts, the build arguments each stage uses, and the files it copies.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { buildTopology, SERVICE_DEFAULT_PORTS, SERVICE_DOCKERFILE } from "../../infra/topology";
import { MCP_SERVER_DEFAULT_PORT } from "../../services/mcp-server/src/env";
import { MONITOR_DEFAULT_PORT } from "../../services/network-monitor/src/env";
import { ROUTER_DEFAULT_PORT } from "../../services/router/src/env";
import { stackConfig } from "../helpers/stack-files";

const ROOT = join(__dirname, "..", "..");
const text = readFileSync(join(ROOT, SERVICE_DOCKERFILE), "utf8");

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
const instructions = text
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line !== "" && !line.startsWith("#"));

/** The instructions of each stage, by stage name, and the global ones before the first FROM. */
function stages(): { global: string[]; byName: Map<string, string[]> } {
  const global: string[] = [];
  const byName = new Map<string, string[]>();
  let current: string[] = global;
  for (const line of instructions) {
    const from = /^FROM \S+ AS (\S+)$/.exec(line);
    if (from?.[1] !== undefined) {
      current = [line];
      byName.set(from[1], current);
    } else {
      current.push(line);
    }
  }
  return { global, byName };
}

/** Names an instruction declares: `ARG` ones live until the end of the stage, `ENV` ones also pass to stages built on it. */
function declared(line: string): { args: string[]; envs: string[] } {
  const arg = /^ARG (\w+)/.exec(line)?.[1];
  const envs = line.startsWith("ENV ") ? [...line.matchAll(/(\w+)=/g)].map((m) => m[1] ?? "") : [];
  return { args: arg === undefined ? [] : [arg], envs };
}

/** Variables an instruction substitutes (`$X`, `${X}`). */
const usedIn = (line: string) => [...line.matchAll(/\$\{?(\w+)\}?/g)].map((m) => m[1] ?? "");

/** Set in every base image. */
const PREDEFINED = new Set(["PATH"]);

describe("services/Dockerfile", () => {
  const { global, byName } = stages();

  it("copies every workspace manifest, so npm ci sees a lockfile in sync with the workspaces", () => {
    const root = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { workspaces: string[] };
    const workspaces = root.workspaces.flatMap((pattern) =>
      pattern.endsWith("/*")
        ? readdirSync(join(ROOT, pattern.slice(0, -2)), { withFileTypes: true })
            .filter(
              (d) => d.isDirectory() && existsSync(join(ROOT, pattern.slice(0, -2), d.name, "package.json")),
            )
            .map((d) => `${pattern.slice(0, -2)}/${d.name}`)
        : [pattern],
    );
    const copied = (byName.get("manifests") ?? [])
      .map((line) => /^COPY (\S+)\/package\.json \1\/$/.exec(line)?.[1])
      .filter((dir): dir is string => dir !== undefined);
    expect(copied.sort()).toStrictEqual(workspaces.sort());
  });

  it("accepts exactly the services the stacks build, with their own default ports", () => {
    // GIVEN the dev stack's image builds
    const images = buildTopology(stackConfig("dev")).images;
    const accepted = /case "\$SERVICE" in ([\w|-]+)\)/.exec(text)?.[1]?.split("|");

    // THEN the Dockerfile's guard accepts each service built, and no other
    expect(images.map((i) => i.dockerfile)).toStrictEqual([
      SERVICE_DOCKERFILE,
      SERVICE_DOCKERFILE,
      SERVICE_DOCKERFILE,
    ]);
    expect(accepted?.sort()).toStrictEqual(images.map((i) => i.args.SERVICE).sort());
    expect(SERVICE_DEFAULT_PORTS).toStrictEqual({
      router: ROUTER_DEFAULT_PORT,
      "mcp-server": MCP_SERVER_DEFAULT_PORT,
      "network-monitor": MONITOR_DEFAULT_PORT,
    });
    for (const image of images) {
      expect(image.args.SERVICE_PORT).toBe(String(SERVICE_DEFAULT_PORTS[image.service]));
    }
  });

  it("declares, in each stage, every build argument that stage substitutes", () => {
    // A global ARG is only visible to FROM lines. A stage sees the ARGs it declares itself and the
    // ENVs of the stage it is built FROM (ARGs do not carry over).
    const undeclared: string[] = [];
    const globals = new Set(global.flatMap((line) => declared(line).args));
    const envsOf = new Map<string, Set<string>>();
    const visibleIn = new Map<string, Set<string>>();
    for (const [name, lines] of byName) {
      const base = /^FROM (\S+) AS/.exec(lines[0] ?? "")?.[1] ?? "";
      const envs = new Set(envsOf.get(base) ?? []);
      const visible = new Set(envs);
      for (const line of lines) {
        const known = line.startsWith("FROM ") ? globals : visible;
        // A RUN's own shell loop variables (`for spec in ...`) are not build arguments.
        const loopVars = new Set([...line.matchAll(/\bfor (\w+) in\b/g)].map((m) => m[1]));
        for (const v of usedIn(line))
          if (!known.has(v) && !PREDEFINED.has(v) && !loopVars.has(v)) undeclared.push(`${name}: ${v}`);
        const { args, envs: set } = declared(line);
        for (const v of [...args, ...set]) visible.add(v);
        for (const v of set) envs.add(v);
      }
      envsOf.set(name, envs);
      visibleIn.set(name, visible);
    }
    expect(undeclared).toStrictEqual([]);
    expect([...(visibleIn.get("runtime") ?? [])]).toEqual(
      expect.arrayContaining(["SERVICE", "SERVICE_PORT"]),
    );
    expect([...(visibleIn.get("stdio") ?? [])]).toContain("MCP_STDIO_PACKAGES");
  });

  it.each(["router", "mcp-server", "network-monitor"])("copies only files that exist for %s", (service) => {
    const sources = instructions
      .filter((line) => line.startsWith("COPY ") && !line.startsWith("COPY --from"))
      .flatMap((line) => line.split(/\s+/).slice(1, -1))
      .map((source) => source.replace("${SERVICE}", service));
    expect(sources.filter((source) => !existsSync(join(ROOT, source)))).toStrictEqual([]);
    expect(existsSync(join(ROOT, "services", service, "src", "main.ts"))).toBe(true);
  });
});
