/**
 * The dashboard in a real browser: headless Debian chromium, driven by playwright-core, loads the
 * page the monitor serves on 127.0.0.1 and must show every service with the right status, draw
 * the trend chart, load nothing from anywhere but the monitor, and update live.
 *
 * The monitor watches real local servers (real MCP servers for the MCP services) discovered
 * through a Consul catalog double, plus a static TCP target; 15 minutes of history are recorded
 * first on a manual clock, so the page has a chart to draw and every figure is reproducible.
 *
 * The screenshot goes to test-artifacts/dashboard.png; with UPDATE_DOCS_SCREENSHOT=1 it is also
 * copied to docs/images/dashboard.png, which the README shows.
 */
import { copyFileSync, mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import type { MonitorApp } from "../../../services/network-monitor/src/app";
import { launchChromium } from "../../helpers/browser";
import { ManualClock } from "../../helpers/monitor-clock";
import { monitorApp, targetsEnv } from "../../helpers/monitor-app";
import { ConsulCatalogDouble } from "../../helpers/consul-catalog-double";
import type { Script } from "../../helpers/monitor-targets";
import { flapping, McpTarget, refusedPort, TcpTarget } from "../../helpers/monitor-targets";
import { REPO_ROOT } from "../../helpers/service-process";

jest.setTimeout(60_000);

const INTERVAL_MS = 10_000;
/** 15 minutes of rounds. */
const ROUNDS = 90;

/** A router instance: a gentle latency wave with a spike now and then. */
const routerA: Script = (n) => ({
  // Rounds 52–57: this instance fails its health check, so the router dips to 50 %.
  status: n >= 52 && n <= 57 ? 503 : 200,
  latencyMs: Math.round((14 + 5 * Math.sin(n / 7) + (n % 23 === 0 ? 30 : 0)) * 10) / 10,
});
const routerB: Script = (n) => ({ status: 200, latencyMs: Math.round((17 + 4 * Math.cos(n / 9)) * 10) / 10 });
const steady: Script = (n) => ({ status: 200, latencyMs: 6 + (n % 4) });

/** The part of a Chart.js chart the test reads (`Chart.getChart(canvas)` in the page). */
interface ChartShape {
  readonly data: {
    readonly labels: readonly unknown[];
    readonly datasets: readonly { readonly label: string; readonly data: readonly (number | null)[] }[];
  };
}

describe("dashboard in headless chromium", () => {
  const closers: (() => Promise<void>)[] = [];
  let clock: ManualClock;
  let consul: ConsulCatalogDouble;
  let subject: MonitorApp;
  let browser: Browser;
  let base: string;

  beforeAll(async () => {
    clock = new ManualClock();
    const start = async <T extends { close(): Promise<void> }>(server: Promise<T>): Promise<T> => {
      const started = await server;
      closers.push(() => started.close());
      return started;
    };
    const [a, b, files, memory, haproxy] = await Promise.all([
      start(McpTarget.start(routerA, clock)),
      start(McpTarget.start(routerB, clock)),
      start(McpTarget.start(steady, clock)),
      start(McpTarget.start(flapping, clock)),
      start(TcpTarget.start()),
    ]);
    const [filesDown, searchDown] = [await refusedPort(), await refusedPort()];
    consul = await start(ConsulCatalogDouble.start());
    const instance = (id: string, port: number, node = "node-1") => ({
      id,
      address: "127.0.0.1",
      port,
      node,
    });
    consul.setService("router", [instance("router-a", a.port), instance("router-b", b.port, "node-2")]);
    consul.setService("mcp-files", [
      instance("mcp-files-1", files.port),
      instance("mcp-files-2", filesDown, "node-2"),
    ]);
    consul.setService("mcp-memory", [instance("mcp-memory-1", memory.port)]);
    consul.setService("mcp-search", [instance("mcp-search-1", searchDown)]);

    subject = monitorApp(
      {
        CONSUL_HTTP_ADDR: consul.url,
        MONITOR_TARGETS: targetsEnv({ haproxy: `tcp://127.0.0.1:${haproxy.port}` }),
        MONITOR_INTERVAL_MS: String(INTERVAL_MS),
        // One probe at a time: each server's simulated latency lands in its own probe only.
        MONITOR_PROBE_CONCURRENCY: "1",
      },
      { clock, schedule: false, discovery: { minGapMs: 0 } },
    );
    const synced = new Promise((resolve) => subject.discovery?.once("synced", resolve));
    await subject.app.listen({ host: "127.0.0.1", port: 0 });
    await synced;
    base = `http://127.0.0.1:${(subject.app.server.address() as AddressInfo).port}`;

    // 15 minutes of history, one round every 10 s.
    for (let n = 1; n <= ROUNDS; n++) {
      await subject.monitor.tick();
      clock.advance(INTERVAL_MS);
    }

    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await subject?.app.close();
    await Promise.all(closers.splice(0).map((close) => close()));
  });

  /** Opens the dashboard, recording console errors and any request that leaves the monitor. */
  async function open(hash: string): Promise<{ page: Page; problems: string[] }> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      locale: "en-GB",
      timezoneId: "UTC",
    });
    const page = await context.newPage();
    const problems: string[] = [];
    await page.route("**/*", async (route) => {
      const url = route.request().url();
      if (url.startsWith(`${base}/`)) return route.continue();
      problems.push(`request outside the monitor: ${url}`);
      return route.abort();
    });
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("requestfailed", (request) => problems.push(`failed: ${request.url()}`));
    page.on("response", (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
    });
    await page.goto(`${base}/${hash}`);
    await page.waitForSelector('body[data-ready="true"]');
    return { page, problems };
  }

  /** Every service row as [name, status attribute, status text, flapping badge shown]. */
  async function rows(page: Page): Promise<[string, string, string, boolean][]> {
    return page.$$eval("#service-rows tr.row", (trs) =>
      trs.map((tr): [string, string, string, boolean] => [
        (tr as HTMLElement).dataset.service ?? "",
        (tr as HTMLElement).dataset.status ?? "",
        tr.querySelector(".status")?.textContent ?? "",
        tr.querySelector(".badge") !== null,
      ]),
    );
  }

  it("shows every service with its status, charts the selected one, and loads nothing from outside", async () => {
    // GIVEN the monitor after 15 minutes of probing; WHEN the dashboard opens on the router
    const { page, problems } = await open("#service=router&minutes=15");

    // THEN every service shows with the status its instances earned
    expect(await rows(page)).toStrictEqual([
      ["consul", "up", "Up", false],
      ["haproxy", "up", "Up", false],
      ["mcp-files", "degraded", "Degraded", false],
      ["mcp-memory", "down", "Down", true],
      ["mcp-search", "down", "Down", false],
      ["router", "up", "Up", false],
    ]);
    // AND instance counts and the summary match the statuses above
    expect(
      await page.$$eval("#service-rows tr.row .instances .muted", (els) => els.map((e) => e.textContent)),
    ).toStrictEqual(["1/1 up", "1/1 up", "1/2 up", "0/1 up", "0/1 up", "2/2 up"]);
    expect(await page.$$eval("#summary .pill", (els) => els.map((e) => e.textContent))).toStrictEqual([
      "6 services",
      "3 up",
      "1 degraded",
      "2 down",
    ]);
    // AND the chart's figures are the scripted history's. Round r probes every target once, each
    // stamped when its probe starts; the clock moves 10 s a round plus each answer's simulated
    // latency (under 4 s over all 90 rounds). So the 15-minute window ending after round 90
    // starts just after round 1's probes: it holds rounds 2–90, 89 rounds × 2 router instances =
    // 178 samples, of which router-a's rounds 52–57 (6) answered 503: 172/178 = 96.63 %.
    expect(await page.textContent("#chart-title")).toStrictEqual("router · last 15 min");
    expect(
      await page.$$eval("#chart-figures > div", (items) =>
        [items[0], items[3]].map((item) => [
          item?.querySelector("dt")?.textContent,
          item?.querySelector("dd")?.textContent,
        ]),
      ),
    ).toStrictEqual([
      ["Availability", "96.63%"],
      ["Samples", "178"],
    ]);
    // AND the chart was drawn: Chart.js holds a chart on the canvas with the 30 buckets of 30 s.
    // Bucket k holds rounds 3k+2 to 3k+4 (the last one rounds 89–90), 6 samples each, so the
    // failures of rounds 52–57 land in buckets 16 (round 52: 5/6 up), 17 (53–55: 3/6) and
    // 18 (56–57: 4/6); every other bucket is all up.
    const drawn = await page.evaluate(() => {
      const canvas = document.getElementById("trend-chart") as HTMLCanvasElement;
      const chartJs = (
        window as unknown as { Chart?: { getChart(c: HTMLCanvasElement): ChartShape | undefined } }
      ).Chart;
      const chart = chartJs?.getChart(canvas);
      // A blank canvas of the same size: the drawn one must differ from it.
      const blank = document.createElement("canvas");
      [blank.width, blank.height] = [canvas.width, canvas.height];
      return {
        labels: chart?.data.labels.length,
        series: chart?.data.datasets.map((dataset) => [dataset.label, dataset.data.length]),
        availability: chart?.data.datasets[0]?.data,
        painted: canvas.toDataURL() !== blank.toDataURL(),
      };
    });
    const allUp = (n: number): number[] => Array.from({ length: n }, () => 100);
    expect(drawn).toStrictEqual({
      labels: 30,
      series: [
        ["Availability %", 30],
        ["p50 latency", 30],
        ["p95 latency", 30],
      ],
      availability: [...allUp(16), 83.33, 50, 66.67, ...allUp(11)],
      painted: true,
    });
    // AND nothing failed or came from anywhere but the monitor
    expect(problems).toStrictEqual([]);

    const artifacts = join(REPO_ROOT, "test-artifacts");
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, "dashboard.png"), fullPage: true });
    if (process.env.UPDATE_DOCS_SCREENSHOT === "1") {
      mkdirSync(join(REPO_ROOT, "docs", "images"), { recursive: true });
      copyFileSync(join(artifacts, "dashboard.png"), join(REPO_ROOT, "docs", "images", "dashboard.png"));
    }
    await page.context().close();
  });

  it("updates live: a service that changes state changes colour without a reload", async () => {
    // GIVEN the dashboard open, mcp-memory shown down after its last (failed) probe
    const { page, problems } = await open("#minutes=5");
    await page.waitForSelector('tr[data-service="mcp-memory"][data-status="down"]');

    // WHEN the next round finds it up, and mcp-search leaves the catalog
    await subject.monitor.tick();
    consul.removeService("mcp-search");

    // THEN the page's next poll shows both changes
    await page.waitForSelector('tr[data-service="mcp-memory"][data-status="up"]');
    await page.waitForSelector('tr[data-service="mcp-search"]', { state: "detached" });
    expect(await page.textContent("#availability-head")).toStrictEqual("Availability (5 min)");
    expect(await page.getAttribute('#window button[data-minutes="5"]', "aria-pressed")).toStrictEqual("true");
    expect(problems).toStrictEqual([]);
    await page.context().close();
  });
});
