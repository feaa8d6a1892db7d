// @ts-check
// One site: its card, responsible people, unclosed warnings, cameras, sensor charts and
// gateways.

import { api, report } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { ago, hours, num, summaryOf, t, zoneHour } from "../lib/text.js";
import { chart } from "./charts.js";
import { kv } from "./evidence.js";
import { live } from "./live.js";
import { map } from "./map.js";
import { openPanel, panel } from "./panel.js";
import { video } from "./video.js";
import { openWarning } from "./warning.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const orNone = (/** @type {unknown} */ x, /** @type {(x: any) => string} */ f) => (x !== null && x !== undefined ? f(x) : t("common.none"));

/** @param {import("../types").Gateway[]} gws */
export function gatewaysTable(gws) {
  return html`<table class="grid"><tr>${[t("gw.code"), t("gw.state"), t("gw.last_seen"), t("gw.battery"), t("gw.supply"), t("gw.signal"), t("gw.queue")].map((h) => html`<th>${h}</th>`)}</tr>${
    gws.map((g) => html`<tr class="${g.online ? "online" : "offline"}" data-gateway="${g.code}"><td>${g.code}</td><td>${t(g.online ? "gw.online" : "gw.offline")}</td><td>${ago(g.last_seen_at)}</td><td>${
      orNone(g.battery_pct, (x) => num(x, 0) + " %")}</td><td>${orNone(g.supply_v, (x) => num(x, 2) + " V")}</td><td>${orNone(g.signal_dbm, (x) => num(x, 0) + " dBm")}</td><td>${
      orNone(g.queue_depth, String)}</td></tr>`)}</table>`;
}

/** @param {number} id */
export async function openSite(id) {
  /** @type {import("../types").SiteDetail} */ let site;
  /** @type {import("../types").Person[]} */ let people;
  /** @type {import("../types").Gateway[]} */ let gateways;
  try {
    [site, people, gateways] = await Promise.all([api("/sites/" + id), api("/sites/" + id + "/people"), api("/gateways?site=" + id)]);
  } catch (e) { report(e); return; }
  const level = site.warning_level;
  openPanel(html`<h2 id="site-title">${level && html`<span class="chip lvl-${level}">${t("level." + level)}</span> `}${site.name} <small>${site.code}</small></h2>
    <h3>${t("site.card")}</h3>
    ${kv([["site.kind", t("kind." + site.type)], ["site.division", site.division.name], ["site.status", t("status." + site.status)],
      ["site.scale", html`${site.scale_class ? t("scale." + site.scale_class) : t("common.none")}${site.volume_m3 ? " · " + num(site.volume_m3 / 1e4, 1) + " ×10⁴ m³" : ""}`],
      ["site.people", site.threatened_people + " " + t("site.people_unit")],
      ["site.property", num(site.threatened_property, 1) + " " + t("site.property_unit")],
      ["site.responsible", people.length ? people.map((p, i) => html`${i > 0 && html`<br>`}${t("role_resp." + p.role)}：${p.name}${p.phone && html` <a href="tel:${p.phone}">${p.phone}</a>`}`) : t("site.no_people")]])}
    ${site.warnings.length > 0 && html`<h3>${t("site.warnings")}</h3>${site.warnings.map((w) => html`<div class="feed-item lvl-${w.level}" data-warning="${w.id}"><span class="chip lvl-${w.level}">${t("level." + w.level)}</span> ${summaryOf(w)}</div>`)}`}
    <h3>${t("site.cameras")}</h3><div id="frames" class="frames">${t("common.loading")}</div>
    <h3>${t("site.sensors")}</h3>
    ${site.sensors.map((s) => html`<div class="sensor" data-sensor="${s.id}"><div class="title">${t("sensor.kind." + s.kind)} · ${s.channel} (${s.unit})</div>
      ${isRain(s) ? html`<div class="rain-acc"></div><div>${t("rain.hourly24")}</div><div class="chart raw"></div><div>${t("rain.daily")}</div><div class="chart hourly"></div>`
        : html`<div>${t("chart.raw24")}</div><div class="chart raw"></div><div>${t("chart.hourly")}</div><div class="chart hourly"></div>`}</div>`)}
    <h3>${t("site.gateways")}</h3>${gatewaysTable(gateways)}`);
  panel.site = id;
  for (const el of /** @type {NodeListOf<HTMLElement>} */ ($("panel-body").querySelectorAll("[data-warning]"))) el.addEventListener("click", () => openWarning(Number(el.dataset.warning)));
  map.showZone(site.threat_zone);
  panel.endings.push(() => map.showZone(null));
  video.showSite(site);
  sensorCharts(site).catch(report);
}

/** A rain gauge's readings are increments: it is drawn as totals, never as raw values. @param {import("../types").Sensor} s */
const isRain = (s) => s.kind === "rain_gauge";
const HOUR = 3600000;
/** The analyzer's default rainfall windows (analyzer/src/rules.rs), for a rule that sets none. */
const RAIN_WINDOWS_H = [1, 3, 6, 12, 24, 72];

/**
 * Totals per bucket: `key(ms)` names the bucket of each point; the answer is [bucket, total]
 * oldest first.
 * @param {Iterable<[number, number]>} points ms → value
 * @param {(ms: number) => number} key
 */
function totals(points, key) {
  /** @type {Map<number, number>} */
  const out = new Map();
  for (const [ts, v] of points) out.set(key(ts), (out.get(key(ts)) || 0) + v);
  return [...out.entries()].sort((a, b) => a[0] - b[0]);
}

/** The start of the agency's day that `ms` falls in (zones on whole hours). @param {number} ms */
function dayStart(ms) {
  const hour = zoneHour(ms);
  return Math.floor(ms / HOUR) * HOUR - hour * HOUR;
}

/**
 * A sensor's raw chart of the last 24 h: kept sorted by time, so a backfilled older reading
 * takes its place; and redrawn when readings arrive.
 */
class RawChart {
  /** @param {HTMLElement} el @param {import("../types").Sensor} sensor @param {import("../types").ThresholdLines | null} th */
  constructor(el, sensor, th) {
    this.el = el;
    this.sensor = sensor;
    this.th = th;
    /** @type {Map<number, number>} ms → value */
    this.points = new Map();
    /** @type {{destroy(): void} | null} */
    this.plot = null;
    /** A rain gauge's hourly totals before the last 24 h (hour → mm), for the longer windows. @type {Map<number, number>} */
    this.older = new Map();
    /** The accumulations its rainfall rule uses, in hours. */
    this.windows = (th && th.rain_windows_h) || RAIN_WINDOWS_H;
  }

  /** @param {import("../types").Point[]} points */
  add(points) {
    for (const p of points) this.points.set(new Date(p.ts).getTime(), p.value);
    const cut = Date.now() - 86400000;
    for (const ts of this.points.keys()) if (ts < cut) this.points.delete(ts);
    this.draw();
  }

  draw() {
    const sorted = [...this.points.entries()].sort((a, b) => a[0] - b[0]);
    this.el.dataset.points = String(sorted.length);
    this.el.dataset.last = sorted.length ? new Date(sorted[sorted.length - 1][0]).toISOString() : "";
    if (this.plot) this.plot.destroy();
    this.plot = null;
    if (!sorted.length) {
      this.el.textContent = t("chart.no_data");
      return;
    }
    this.el.textContent = "";
    const day = () => /** @type {[number, number]} */ ([Date.now() / 1000 - 86400, Date.now() / 1000]);
    if (isRain(this.sensor)) {
      // Hourly totals as bars, each across its hour; the rules' accumulations above them.
      const hourly = totals(sorted, (ms) => Math.floor(ms / HOUR) * HOUR);
      this.plot = chart(this.el, this.sensor.unit, hourly.map(([h]) => (h + HOUR / 2) / 1000),
        [{ label: t("rain.hour_total"), data: hourly.map(([, v]) => Math.round(v * 100) / 100), bars: true }], null, day);
      this.accumulations(sorted);
      return;
    }
    this.plot = chart(this.el, this.sensor.unit, sorted.map(([ts]) => ts / 1000), [{ label: this.sensor.channel, data: sorted.map(([, v]) => v) }], this.th, day);
  }

  /** "近 1 小时 2.5 mm · 近 3 小时 …": the sums the rainfall rule compares with its lines. @param {Array<[number, number]>} sorted */
  accumulations(sorted) {
    const box = /** @type {HTMLElement | null} */ (this.el.parentElement && this.el.parentElement.querySelector(".rain-acc"));
    if (!box) return;
    const now = Date.now();
    // The raw readings cover the last 24 h; before them, whole hours of the hourly totals.
    const edge = Math.ceil((now - 86400000) / HOUR) * HOUR;
    const sums = this.windows.map((h) => {
      const from = now - h * HOUR;
      let mm = 0;
      for (const [ts, v] of sorted) if (ts > from && (h <= 24 || ts >= edge)) mm += v;
      if (h > 24) for (const [bucket, v] of this.older) if (bucket >= Math.floor(from / HOUR) * HOUR && bucket < edge) mm += v;
      return { h, mm };
    });
    box.dataset.windows = JSON.stringify(sums.map((x) => [x.h, Math.round(x.mm * 100) / 100]));
    render(box, html`<b>${t("rain.accumulated")}</b> ${sums.map((x, i) => html`${i > 0 && " · "}<span class="acc">${t("rain.within", { h: hours(x.h) })} <b>${num(x.mm, 1)}</b> mm</span>`)}`);
  }

  destroy() {
    if (this.plot) this.plot.destroy();
  }
}

/**
 * Each sensor's charts. The raw chart takes the readings the live link pushes as they are
 * stored; nothing polls.
 * @param {import("../types").SiteDetail} site
 */
async function sensorCharts(site) {
  panel.endings.push(() => {
    live.readings.clear();
    live.watch([]);
  });
  for (const s of site.sensors) {
    const box = document.querySelector('[data-sensor="' + Number(s.id) + '"]');
    if (!box) continue;
    /** @type {import("../types").ThresholdLines | null} */
    let th = null;
    try { th = await api("/sensors/" + s.id + "/thresholds"); } catch (_) { /* no lines */ }
    // The last 24 h raw, then what the live link pushes while the view is open.
    const raw = await api("/sensors/" + s.id + "/readings?resolution=raw&limit=100000");
    if (panel.site !== site.id) return;
    const rawChart = new RawChart(/** @type {HTMLElement} */ (box.querySelector(".raw")), s, th);
    rawChart.add(raw.points);
    panel.charts.push(rawChart);
    live.readings.set(s.id, (points) => rawChart.add(points));
    live.watch([...live.readings.keys()]);
    // Months of hourly rollups: mean with min and max, drag to zoom.
    const from = new Date(Date.now() - 180 * 86400000).toISOString();
    const hourly = await api("/sensors/" + s.id + "/readings?resolution=hourly&from=" + encodeURIComponent(from));
    if (panel.site !== site.id) return;
    const hEl = /** @type {HTMLElement} */ (box.querySelector(".hourly"));
    if (hourly.points.length && isRain(s)) {
      /** @type {Array<{ts: string, sum: number}>} */
      const points = hourly.points;
      const sums = points.map((p) => /** @type {[number, number]} */ ([new Date(p.ts).getTime(), p.sum]));
      rawChart.older = new Map(sums);
      rawChart.draw();
      const daily = totals(sums, dayStart);
      const whole = daily.length > 1 ? null : () => /** @type {[number, number]} */ ([daily[0][0] / 1000 - 86400, daily[0][0] / 1000 + 2 * 86400]);
      hEl.dataset.days = String(daily.length);
      panel.charts.push(chart(hEl, s.unit, daily.map(([d]) => (d + 12 * HOUR) / 1000),
        [{ label: t("rain.day_total"), data: daily.map(([, v]) => Math.round(v * 10) / 10), bars: true }], null, whole));
    } else if (hourly.points.length) {
      /** @type {Array<{ts: string, mean: number, min: number, max: number}>} */
      const points = hourly.points;
      const hx = points.map((p) => new Date(p.ts).getTime() / 1000);
      // The whole history in view at first, however little of it there is; drag to zoom in.
      const whole = hx.length > 1 ? null : () => /** @type {[number, number]} */ ([hx[0] - 43200, hx[0] + 43200]);
      panel.charts.push(chart(hEl, s.unit, hx, [
        { label: t("chart.mean"), data: points.map((p) => p.mean), stroke: "#1d3557" },
        { label: t("chart.min"), data: points.map((p) => p.min), stroke: "#8fa8c8" },
        { label: t("chart.max"), data: points.map((p) => p.max), stroke: "#c88f8f" },
      ], th, whole));
    } else hEl.textContent = t("chart.no_data");
  }
}
