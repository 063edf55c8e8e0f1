/**
 * The dashboard: `GET /` serves a static page whose small script polls `/api/services` and the
 * trend endpoint, and draws the chart with Chart.js.
 *
 * Everything the page loads comes from the monitor itself, so it works with no internet: the
 * page, script, styles and icon from `public/` (next to `src/` and `dist/`, copied into the
 * image), and Chart.js's UMD build straight from its npm package (a production dependency, so
 * present in the image). A strict Content-Security-Policy keeps it that way.
 *
 * The set of files is fixed and small (about 230 kB), so it is read once at start-up and served
 * from memory with an ETag: nothing outside the list can be reached, and a missing file fails
 * the boot rather than the first page load. (@fastify/static would do the same from disk, but its
 * ESM-only dependencies cannot be loaded by the test runner's CommonJS runtime.)
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { FastifyInstance } from "fastify";

/** The dashboard's own files: `services/network-monitor/public`. */
export const PUBLIC_DIR = join(__dirname, "..", "public");

/** Where Chart.js is served from, as the page references it. */
export const CHART_JS_PATH = "/assets/vendor/chart.umd.min.js";

/** The directory holding Chart.js's UMD build (its package's `dist/`). */
export function chartJsDir(): string {
  // "chart.js" resolves to dist/chart.cjs; the package exports no subpaths, so go by directory.
  return dirname(require.resolve("chart.js"));
}

/** Headers of every dashboard response: no third-party anything, no framing, no sniffing. */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/** One file the dashboard serves. */
export interface DashboardAsset {
  /** URL path. */
  readonly path: string;
  /** File on disk. */
  readonly file: string;
  readonly contentType: string;
}

/** Every file the dashboard serves. */
export function dashboardAssets(): DashboardAsset[] {
  const js = "text/javascript; charset=utf-8";
  return [
    { path: "/", file: join(PUBLIC_DIR, "index.html"), contentType: "text/html; charset=utf-8" },
    { path: "/assets/dashboard.js", file: join(PUBLIC_DIR, "dashboard.js"), contentType: js },
    {
      path: "/assets/dashboard.css",
      file: join(PUBLIC_DIR, "dashboard.css"),
      contentType: "text/css; charset=utf-8",
    },
    { path: "/assets/favicon.svg", file: join(PUBLIC_DIR, "favicon.svg"), contentType: "image/svg+xml" },
    { path: CHART_JS_PATH, file: join(chartJsDir(), "chart.umd.min.js"), contentType: js },
  ];
}

/** Registers the dashboard's routes, in their own scope so the headers stay theirs. */
export async function dashboardPlugin(app: FastifyInstance): Promise<void> {
  app.addHook("onSend", async (_request, reply) => {
    for (const [name, value] of Object.entries(DASHBOARD_HEADERS)) reply.header(name, value);
  });
  for (const asset of dashboardAssets()) {
    const body = await readFile(asset.file);
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
    app.get(asset.path, async (request, reply) => {
      // no-cache: the browser keeps a copy but revalidates, so an upgrade shows at once.
      reply.header("cache-control", "no-cache").header("etag", etag);
      if (request.headers["if-none-match"] === etag) return reply.code(304).send();
      return reply.type(asset.contentType).send(body);
    });
  }
}
