/**
 * The built network-monitor (`node services/network-monitor/dist/main.js`) as a real process:
 * it probes on its own timer, logs state changes, and serves the dashboard, its assets and
 * Chart.js from the bundle's location (public/ next to dist/, Chart.js from node_modules), as
 * the image does. Requires `npm run build` (`npm test` runs it first).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { targetsEnv } from "../../helpers/monitor-app";
import { healthy, HttpTarget, refusedPort } from "../../helpers/monitor-targets";
import { httpGet, REPO_ROOT, startService, stopAllServices } from "../../helpers/service-process";

jest.setTimeout(30_000);

describe("network-monitor process", () => {
  let web: HttpTarget;

  beforeEach(async () => {
    web = await HttpTarget.start(healthy());
  });

  afterEach(async () => {
    await stopAllServices();
    await web.close();
  });

  it("probes its targets on its own schedule and serves the dashboard from the bundle", async () => {
    // GIVEN the built monitor with one healthy and one refusing target, probing every 100 ms
    const gone = await refusedPort();
    const proc = startService("network-monitor", {
      HOST: "127.0.0.1",
      PORT: "0",
      MONITOR_TARGETS: targetsEnv({ web: `${web.url}/health`, gone: `tcp://127.0.0.1:${gone}` }),
      MONITOR_INTERVAL_MS: "100",
    });
    const port = (await proc.waitForLog((line) => line.msg === "listening")).port as number;
    const base = `http://127.0.0.1:${port}`;

    // WHEN its first rounds have run
    const changed = (target: string) => (line: Record<string, unknown>) =>
      line.msg === "target state changed" && line.target === target;
    const [up, down] = await Promise.all([proc.waitForLog(changed("web")), proc.waitForLog(changed("gone"))]);

    // THEN it logged each target's first state, and /api/services agrees
    expect(
      [up, down].map(({ target, from, to, check, error }) => ({ target, from, to, check, error })),
    ).toStrictEqual([
      { target: "web", from: "unknown", to: "up", check: undefined, error: undefined },
      { target: "gone", from: "unknown", to: "down", check: "tcp", error: "ECONNREFUSED" },
    ]);
    const view = JSON.parse((await httpGet(`${base}/api/services`)).body) as {
      services: { name: string; status: string }[];
    };
    expect(view.services.map(({ name, status }) => [name, status])).toStrictEqual([
      ["gone", "down"],
      ["web", "up"],
    ]);

    // AND the page, its script and Chart.js (byte for byte from the npm package) are served
    const page = await httpGet(`${base}/`);
    expect([
      page.status,
      page.body.includes('<script src="/assets/vendor/chart.umd.min.js" defer>'),
    ]).toStrictEqual([200, true]);
    const chart = await httpGet(`${base}/assets/vendor/chart.umd.min.js`);
    const packaged = readFileSync(join(REPO_ROOT, "node_modules/chart.js/dist/chart.umd.min.js"), "utf8");
    expect([chart.status, chart.body === packaged]).toStrictEqual([200, true]);
    expect((await httpGet(`${base}/assets/dashboard.js`)).status).toStrictEqual(200);
    expect((await httpGet(`${base}/assets/../src/app.ts`)).status).toStrictEqual(404);

    // WHEN it receives SIGTERM THEN it stops probing and exits 0
    proc.child.kill("SIGTERM");
    expect(await proc.exited).toStrictEqual({ code: 0, signal: null });
  });
});
