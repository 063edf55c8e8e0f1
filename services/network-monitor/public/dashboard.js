/* global document, window, Chart */
// Network monitor dashboard: polls /api/services and each service's trend, renders the service
// table and the selected service's availability/latency chart. Plain browser JavaScript with no
// build step; every value from the API goes into the page as text, never as HTML.
"use strict";

(() => {
  const WINDOWS = [5, 15, 60];
  const STATUS_LABEL = { up: "Up", degraded: "Degraded", down: "Down", unknown: "Unknown" };
  const COLORS = {
    availability: "#1a7f37",
    p50: "#0969da",
    p95: "#8250df",
    grid: "#eaeef2",
    text: "#656d76",
  };
  const POLL_MIN_MS = 1000;
  const POLL_MAX_MS = 5000;

  const state = {
    minutes: 15,
    selected: null,
    view: null,
    trends: new Map(),
    chart: null,
    timer: null,
    loading: false,
    reload: false,
  };

  const byId = (id) => document.getElementById(id);

  /** Creates an element with a class and text content. */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function readHash() {
    const params = new URLSearchParams(window.location.hash.slice(1));
    const minutes = Number(params.get("minutes"));
    if (WINDOWS.includes(minutes)) state.minutes = minutes;
    if (params.get("service")) state.selected = params.get("service");
  }

  function writeHash() {
    const params = new URLSearchParams();
    if (state.selected) params.set("service", state.selected);
    params.set("minutes", String(state.minutes));
    window.history.replaceState(null, "", `#${params}`);
  }

  async function getJson(url) {
    const response = await window.fetch(url, { cache: "no-store", headers: { accept: "application/json" } });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  const formatMs = (value) =>
    value === null || value === undefined ? "–" : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
  const formatPercent = (value) =>
    value === null || value === undefined ? "–" : `${value.toFixed(value === 100 ? 0 : 2)}%`;
  const formatTime = (iso, seconds) =>
    new Date(iso).toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
      ...(seconds ? { second: "2-digit" } : {}),
    });

  function windowMinutes() {
    return Math.min(state.minutes, state.view ? state.view.retentionMinutes : state.minutes);
  }

  /** One poll; a poll asked for while one runs (a window change) runs right after it. */
  async function refresh() {
    if (state.loading) {
      state.reload = true;
      return;
    }
    state.loading = true;
    window.clearTimeout(state.timer);
    let next = POLL_MAX_MS;
    try {
      const view = await getJson("/api/services");
      const minutes = Math.min(state.minutes, view.retentionMinutes);
      const trends = await Promise.all(
        view.services.map((service) =>
          getJson(`/service/${encodeURIComponent(service.name)}/trend?minutes=${minutes}`).catch(() => null),
        ),
      );
      state.view = view;
      state.trends = new Map(view.services.map((service, index) => [service.name, trends[index]]));
      next = Math.min(POLL_MAX_MS, Math.max(POLL_MIN_MS, view.intervalMs));
      render();
      byId("banner").hidden = true;
    } catch {
      byId("banner").hidden = false;
    } finally {
      state.loading = false;
      if (state.reload) {
        state.reload = false;
        void refresh();
      } else {
        state.timer = window.setTimeout(refresh, next);
      }
    }
  }

  function render() {
    const view = state.view;
    const names = view.services.map((service) => service.name);
    if (!names.includes(state.selected)) {
      // Start on the first service that needs attention, else the first one.
      const attention = view.services.find((service) => service.status !== "up" || service.flapping);
      state.selected = (attention || view.services[0] || { name: null }).name;
    }
    renderSummary(view);
    renderWindow(view);
    renderRows(view);
    renderChart();
    byId("updated").textContent = `Updated ${formatTime(view.generatedAt, true)}`;
    document.body.dataset.ready = "true";
  }

  function renderSummary(view) {
    const summary = byId("summary");
    summary.replaceChildren(el("span", "pill unknown", `${view.services.length} services`));
    for (const status of ["up", "degraded", "down"]) {
      const count = view.summary[status];
      const pill = el("span", `pill ${status}${count === 0 ? " zero" : ""}`);
      pill.dataset.summary = status;
      pill.append(el("span", `dot ${status}`), `${count} ${status}`);
      summary.append(pill);
    }
  }

  function renderWindow(view) {
    for (const button of byId("window").querySelectorAll("button")) {
      const minutes = Number(button.dataset.minutes);
      button.disabled = minutes > view.retentionMinutes;
      button.setAttribute("aria-pressed", String(minutes === windowMinutes()));
    }
    byId("availability-head").textContent = `Availability (${windowMinutes()} min)`;
  }

  function renderRows(view) {
    const rows = view.services.map((service) => {
      const trend = state.trends.get(service.name);
      const row = el("tr", `row ${service.status}`);
      row.dataset.service = service.name;
      row.dataset.status = service.status;
      row.tabIndex = 0;
      row.setAttribute("aria-selected", String(service.name === state.selected));

      const name = el("div", "name-cell");
      name.append(el("span", `dot ${service.status}`), el("span", "service-name", service.name));
      if (service.flapping) name.append(el("span", "badge", "flapping"));

      const instances = el("div", "instances");
      const dots = el("span", "instance-dots");
      for (const instance of service.instances) {
        const dot = el("span", `dot ${instance.status}`);
        dot.title = `${instance.id} (${instance.endpoint}): ${instance.status}`;
        dots.append(dot);
      }
      instances.append(dots, el("span", "muted", `${service.counts.up}/${service.counts.total} up`));

      const latency = trend && trend.latencyMs;
      row.append(
        cell(name),
        cell(el("span", `status ${service.status}`, STATUS_LABEL[service.status])),
        cell(instances),
        cell(formatPercent(trend ? trend.availabilityPercent : null), "num"),
        cell(formatMs(latency ? latency.p50 : null), "num"),
        cell(formatMs(latency ? latency.p95 : null), "num"),
        cell(checksOf(service)),
      );
      row.addEventListener("click", () => select(service.name));
      row.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") select(service.name);
      });
      return row;
    });
    if (rows.length === 0) {
      const empty = el("tr", "empty");
      const td = el("td", "", "No targets yet.");
      td.colSpan = 7;
      empty.append(td);
      rows.push(empty);
    }
    byId("service-rows").replaceChildren(...rows);
  }

  function cell(content, className) {
    const td = el("td", className);
    td.append(content);
    return td;
  }

  /** The checks of the first instance that failed (with its reason), else of the first one. */
  function checksOf(service) {
    const failing = service.instances.find((instance) => instance.status === "down");
    const shown = failing || service.instances[0];
    const box = el("div", "checks");
    if (!shown || shown.checks.length === 0) {
      box.append(el("span", "muted", "not probed yet"));
      return box;
    }
    for (const check of shown.checks) box.append(el("span", `check ${check.outcome}`, check.kind));
    const reason = shown.checks.find((check) => check.error);
    if (reason) {
      const prefix = service.instances.length > 1 ? `${shown.id}: ` : "";
      box.append(el("span", "reason", `${prefix}${reason.error}`));
    }
    return box;
  }

  function select(name) {
    state.selected = name;
    writeHash();
    renderRows(state.view);
    renderChart();
  }

  function renderChart() {
    const trend = state.trends.get(state.selected);
    byId("chart-title").textContent = trend ? `${trend.service} · last ${trend.minutes} min` : "Trend";
    const figures = byId("chart-figures");
    figures.replaceChildren();
    if (!trend) return;
    const latency = trend.latencyMs;
    for (const [label, value] of [
      ["Availability", formatPercent(trend.availabilityPercent)],
      ["p50", formatMs(latency ? latency.p50 : null)],
      ["p95", formatMs(latency ? latency.p95 : null)],
      ["Samples", String(trend.samples)],
    ]) {
      const item = el("div");
      item.append(el("dt", "", label), el("dd", "", value));
      figures.append(item);
    }
    drawChart(trend);
  }

  function drawChart(trend) {
    if (typeof Chart === "undefined") return;
    const labels = trend.series.map((point) => formatTime(point.at, trend.minutes <= 5));
    const pick = (fn) => trend.series.map((point) => (point.samples === 0 ? null : fn(point)));
    const availability = pick((point) => point.availabilityPercent);
    const p50 = pick((point) => (point.latencyMs ? point.latencyMs.p50 : null));
    const p95 = pick((point) => (point.latencyMs ? point.latencyMs.p95 : null));
    if (state.chart) {
      state.chart.data.labels = labels;
      state.chart.data.datasets[0].data = availability;
      state.chart.data.datasets[1].data = p50;
      state.chart.data.datasets[2].data = p95;
      state.chart.update("none");
      return;
    }
    const line = (label, data, color, axis, extra) => ({
      label,
      data,
      yAxisID: axis,
      borderColor: color,
      backgroundColor: color,
      borderWidth: 2,
      pointRadius: 0,
      pointHoverRadius: 4,
      tension: 0.3,
      spanGaps: true,
      ...extra,
    });
    state.chart = new Chart(byId("trend-chart"), {
      type: "line",
      data: {
        labels,
        datasets: [
          line("Availability %", availability, COLORS.availability, "availability", {
            fill: true,
            backgroundColor: "rgba(26, 127, 55, 0.08)",
            tension: 0,
            stepped: "middle",
          }),
          line("p50 latency", p50, COLORS.p50, "latency"),
          line("p95 latency", p95, COLORS.p95, "latency", { borderDash: [6, 4] }),
        ],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { grid: { display: false }, ticks: { color: COLORS.text, maxRotation: 0, autoSkipPadding: 24 } },
          latency: {
            position: "left",
            beginAtZero: true,
            grid: { color: COLORS.grid },
            ticks: { color: COLORS.text, callback: (value) => `${value} ms` },
          },
          availability: {
            position: "right",
            min: 0,
            max: 100,
            grid: { drawOnChartArea: false },
            ticks: { color: COLORS.text, stepSize: 25, callback: (value) => `${value}%` },
          },
        },
        plugins: {
          legend: {
            position: "bottom",
            labels: { usePointStyle: true, pointStyle: "line", color: COLORS.text },
          },
        },
      },
    });
  }

  readHash();
  for (const button of byId("window").querySelectorAll("button")) {
    button.addEventListener("click", () => {
      state.minutes = Number(button.dataset.minutes);
      writeHash();
      void refresh();
    });
  }
  void refresh();
})();
