// @ts-check
// Integrated supervision on the console (综合监管): the figures of a division in scope over a
// day or a month as the server counts them (device online rate, data completeness, warnings by
// level and response times, notifications, approvals, sites without working monitoring), a
// chart of the online rate and completeness over the periods before, each gateway's online
// rate, the exceptions by name (which gateway, which sensor, which site, which request and
// step), and the stored daily and monthly reports with their downloads (XLSX, PDF, printable
// page). Times are in the agency's zone, labelled.

import { api, report } from "../lib/api.js";
import { LEVELS } from "../lib/model.js";
import { html, render } from "../lib/html.js";
import { registerPage } from "../lib/pages.js";
import { state, subscribe } from "../lib/store.js";
import { fmtTime, num, t, timeZone, zoneLabel } from "../lib/text.js";
import { CHART_W } from "./charts.js";
import { openApproval } from "./approvals.js";

/** @typedef {{gateway: string, site: string, site_name: string, slots: number, online_slots: number}} Gateway */
/** @typedef {{kind: string, name: string, site: string | null, figure: number | null, detail: string, step?: string | null, approval_id?: number | null, at?: string | null, level?: string | null}} Exception */
/** @typedef {{raised: number, acknowledged: number, ack_mean_s: number | null, ack_max_s: number | null, incidents: number, incident_mean_s: number | null, incident_max_s: number | null, on_site: number, on_site_mean_s: number | null, on_site_max_s: number | null}} Responses */
/** @typedef {{division_code: string, division_name: string, period: {kind: string, label: string, from: string, to: string}, counted_to: string, gateways: Gateway[], online_rate: number | null, readings_expected: number, readings_received: number, completeness: number | null, warnings: Record<string, number>, responses: Responses, notifications: {queued: number, sent: number, delivered: number, confirmed: number, failed: number}, approvals: {decided: number, on_time: number, late: number, open_overdue: number}, sites: number, sites_without_monitoring: string[], patrol_rate?: number | null, patrols?: {site: string, site_name: string, slots: number, kept: number}[], exceptions: Exception[]}} Figures */
/** @typedef {{id: number, division_code: string, division_name: string, kind: string, label: string, period_from: string, period_to: string, generated_at: string, exceptions: number}} Report */

/** Periods before the one shown that the trend chart covers. */
const TREND = { day: 7, month: 6 };

const view = {
  /** @type {HTMLElement | null} */ root: null,
  division: "",
  period: "day",
  /** `YYYY-MM-DD` in the agency's zone; "" for today. */
  date: "",
  /** @type {any} */ plot: null,
};

/** A date `YYYY-MM-DD` in the agency's zone. @param {number} ms */
function zonedDate(ms) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: timeZone(), year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(new Date(ms));
  const get = (/** @type {string} */ type) => (parts.find((p) => p.type === type) || { value: "" }).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

/** The date `n` periods before `date`. @param {string} date @param {string} period @param {number} n */
function back(date, period, n) {
  const [y, m, d] = date.split("-").map(Number);
  const at = period === "month" ? new Date(Date.UTC(y, m - 1 - n, 1)) : new Date(Date.UTC(y, m - 1, d - n));
  return at.toISOString().slice(0, 10);
}

/** @param {number | null | undefined} r */
const pct = (r) => (r === null || r === undefined ? t("common.none") : num(r * 100, 1) + "%");
/** @param {number | null | undefined} s */
const minutes = (s) => (s === null || s === undefined ? t("common.none") : t("supervision.minutes", { n: num(s / 60, 1) }));

/** @param {string} key @param {string | number} value @param {string} [id] @param {string} [cls] */
function card(key, value, id, cls) {
  return html`<div class="count ${cls || ""}" id="${id || ""}"><b>${value}</b><span>${t(key)}</span></div>`;
}

/** @param {Figures} f */
function summary(f) {
  const r = f.responses;
  const n = f.notifications;
  const a = f.approvals;
  const rateCls = (/** @type {number | null} */ v) => (v !== null && v < 0.9 ? "bad" : "");
  return html`<div class="counts">
      ${card("supervision.online_rate", pct(f.online_rate), "sv-online", rateCls(f.online_rate))}
      ${card("supervision.completeness", pct(f.completeness), "sv-completeness", rateCls(f.completeness))}
      ${card("supervision.readings", `${f.readings_received} / ${f.readings_expected}`, "sv-readings")}
      ${card("supervision.sites_unmonitored", `${f.sites_without_monitoring.length} / ${f.sites}`, "sv-unmonitored", f.sites_without_monitoring.length ? "bad" : "")}
      ${(f.patrols || []).length ? card("supervision.patrol_rate", pct(f.patrol_rate ?? null), "sv-patrols", rateCls(f.patrol_rate ?? null)) : ""}
    </div>
    <div class="sv-grid">
      <section><h3>${t("supervision.warnings")}</h3>
        <div class="bars" id="sv-levels">${LEVELS.map((l) => {
          const max = Math.max(1, ...LEVELS.map((x) => f.warnings[x] || 0));
          return html`<div class="bar-row"><span><span class="chip lvl-${l}">${t("level." + l)}</span></span><div class="bar-track"><div class="bar-fill lvl-${l}" style="width: ${num(100 * (f.warnings[l] || 0) / max, 1)}%"></div></div><span data-level="${l}">${f.warnings[l] || 0}</span></div>`;
        })}</div></section>
      <section><h3>${t("supervision.responses")}</h3>
        <table class="grid" id="sv-responses"><tr><th>${t("supervision.response")}</th><th>${t("supervision.count")}</th><th>${t("supervision.mean")}</th><th>${t("supervision.longest")}</th></tr>
          <tr><td>${t("supervision.to_ack")}</td><td>${r.acknowledged} / ${r.raised}</td><td>${minutes(r.ack_mean_s)}</td><td>${minutes(r.ack_max_s)}</td></tr>
          <tr><td>${t("supervision.to_incident")}</td><td>${r.incidents || 0} / ${r.raised}</td><td>${minutes(r.incident_mean_s)}</td><td>${minutes(r.incident_max_s)}</td></tr>
          <tr><td>${t("supervision.to_on_site")}</td><td>${r.on_site || 0} / ${r.raised}</td><td>${minutes(r.on_site_mean_s)}</td><td>${minutes(r.on_site_max_s)}</td></tr>
        </table></section>
      <section><h3>${t("supervision.notifications")}</h3>
        <dl class="kv" id="sv-notifications">
          <dt>${t("supervision.n.queued")}</dt><dd>${n.queued}</dd><dt>${t("supervision.n.sent")}</dt><dd>${n.sent}</dd>
          <dt>${t("supervision.n.delivered")}</dt><dd>${n.delivered}</dd><dt>${t("supervision.n.confirmed")}</dt><dd>${n.confirmed}</dd>
          <dt>${t("supervision.n.failed")}</dt><dd>${n.failed}</dd></dl></section>
      <section><h3>${t("supervision.approvals")}</h3>
        <dl class="kv" id="sv-approvals">
          <dt>${t("supervision.a.decided")}</dt><dd>${a.decided}</dd><dt>${t("supervision.a.on_time")}</dt><dd>${a.on_time}</dd>
          <dt>${t("supervision.a.late")}</dt><dd>${a.late}</dd><dt>${t("supervision.a.open_overdue")}</dt><dd>${a.open_overdue}</dd></dl></section>
    </div>`;
}

/** @param {Gateway[]} gateways */
function gatewayBars(gateways) {
  if (!gateways.length) return html`<p>${t("supervision.no_gateways")}</p>`;
  return html`<div class="bars" id="sv-gateways">${gateways.map((g) => {
    const r = g.slots ? g.online_slots / g.slots : null;
    return html`<div class="bar-row sv-gw"><span title="${g.site} ${g.site_name}">${g.gateway}</span><div class="bar-track"><div class="bar-fill sv-fill${r !== null && r < 0.9 ? " low" : ""}" style="width: ${num(100 * (r || 0), 1)}%"></div><div class="bar-line" style="left: 90%"></div></div><span>${pct(r)} · ${g.site_name}</span></div>`;
  })}</div>`;
}

/** An exception's object and what makes it one, in words. @param {Exception} e */
function what(e) {
  if (e.kind === "gateway_offline") return t("supervision.ex.online", { r: pct(e.figure) });
  if (e.kind === "sensor_incomplete") return t("supervision.ex.complete", { r: pct(e.figure) });
  if (e.kind === "site_unmonitored") return t("supervision.ex.silent");
  if (e.kind === "patrol_missed") return t("supervision.ex.patrol", { r: pct(e.figure) });
  if (e.kind === "warning_unacknowledged") return html`<span class="chip lvl-${e.level || ""}">${t("level." + (e.level || "none"))}</span> ${t("supervision.ex.raised", { at: fmtTime(e.at) })}`;
  if (e.kind === "approval_overdue") return t("supervision.ex.due", { step: e.step || "", at: fmtTime(e.at) });
  return e.detail;
}

/** @param {Exception[]} list */
function exceptions(list) {
  if (!list.length) return html`<p id="sv-no-exceptions">${t("supervision.no_exceptions")}</p>`;
  return html`<table class="grid" id="sv-exceptions"><tr><th>${t("supervision.ex.kind")}</th><th>${t("supervision.ex.name")}</th><th>${t("supervision.ex.site")}</th><th>${t("supervision.ex.what")}</th></tr>
    ${list.map((e) => html`<tr data-kind="${e.kind}" data-name="${e.name}"${e.approval_id ? html` class="clickable" data-approval="${e.approval_id}"` : ""}><td><span class="chip ex-${e.kind}">${t("supervision.kind." + e.kind)}</span></td><td>${e.kind === "warning_unacknowledged" ? e.site || e.name : e.name}</td><td>${e.site || t("common.none")}</td><td>${what(e)}</td></tr>`)}</table>`;
}

/** @param {Report[]} list */
function reports(list) {
  if (!list.length) return html`<p id="sv-no-reports">${t("supervision.no_reports")}</p>`;
  const link = (/** @type {Report} */ r, /** @type {string} */ form) =>
    html`<a href="/api/v1/supervision/reports/${r.id}/${form}" data-form="${form}"${form === "html" ? html` target="_blank" rel="noopener"` : html` download`}>${t("supervision.download." + form)}</a>`;
  return html`<table class="grid" id="sv-reports"><tr><th>${t("supervision.r.division")}</th><th>${t("supervision.r.kind")}</th><th>${t("supervision.r.period")}</th><th>${t("supervision.r.generated")}</th><th>${t("supervision.r.exceptions")}</th><th>${t("supervision.r.download")}</th></tr>
    ${list.map((r) => html`<tr data-report="${r.id}"><td>${r.division_name}</td><td>${t("supervision.r.kind." + r.kind)}</td><td>${r.label}</td><td>${fmtTime(r.generated_at)}</td><td>${r.exceptions}</td><td class="downloads">${link(r, "xlsx")} ${link(r, "pdf")} ${link(r, "html")}</td></tr>`)}</table>`;
}

/** @param {Figures} f @param {Report[]} list */
function page(f, list) {
  const divisions = state.divisions.filter((d) => d.level !== "township");
  return html`<h2>${t("supervision.title")}</h2>
    <div class="filters sv-filters">
      <label><span>${t("supervision.division")}</span><select id="sv-division">${divisions.map((d) => html`<option value="${d.code}"${d.code === f.division_code ? " selected" : ""}>${d.name}</option>`)}</select></label>
      <label><span>${t("supervision.period")}</span><select id="sv-period">${["day", "month"].map((p) => html`<option value="${p}"${p === view.period ? " selected" : ""}>${t("supervision.period." + p)}</option>`)}</select></label>
      <label><span>${t("supervision.date")}</span><input id="sv-date" size="10" inputmode="numeric" pattern="\\d{4}-\\d{2}-\\d{2}" value="${view.date || zonedDate(Date.now())}" title="${t("supervision.date_hint", { zone: zoneLabel() })}"></label>
    </div>
    <p class="sv-when" id="sv-when">${f.division_name}（${f.division_code}） · ${t("supervision.period." + f.period.kind)} ${f.period.label} · ${t("supervision.span", { from: fmtTime(f.period.from), to: fmtTime(f.period.to) })} · ${t("supervision.counted_to", { at: fmtTime(f.counted_to) })}</p>
    ${summary(f)}
    <div class="sv-grid sv-wide">
      <section><h3>${t("supervision.trend", { n: TREND[/** @type {"day" | "month"} */ (f.period.kind)] })}</h3><div class="chart" id="sv-trend"></div></section>
      <section><h3>${t("supervision.gateways")}</h3>${gatewayBars(f.gateways)}</section>
    </div>
    <h3>${t("supervision.exceptions")} <span class="dim">(${f.exceptions.length})</span></h3>
    ${exceptions(f.exceptions)}
    <h3>${t("supervision.reports")}</h3>
    ${reports(list)}`;
}

/** Draws the online rate and completeness of the periods up to the one shown. @param {Figures} f */
async function trend(f) {
  const el = document.getElementById("sv-trend");
  if (!el) return;
  const kind = /** @type {"day" | "month"} */ (f.period.kind);
  const date = f.period.label.length === 7 ? f.period.label + "-01" : f.period.label;
  const dates = [];
  for (let n = TREND[kind] - 1; n >= 0; n--) dates.push(back(date, kind, n));
  /** @type {Figures[]} */
  const all = await Promise.all(dates.map((d) => api(`/supervision/figures?division=${encodeURIComponent(f.division_code)}&period=${kind}&date=${d}`)));
  if (!el.isConnected) return;
  // One point a period, labelled as the period is (its day or month in the agency's zone).
  const xs = all.map((_, i) => i);
  const labels = all.map((x) => (kind === "day" ? x.period.label.slice(5) : x.period.label));
  const rate = (/** @type {number | null} */ r) => (r === null ? null : Math.round(r * 1000) / 10);
  const label = (/** @type {unknown} */ u, /** @type {number | null} */ i) => (i === null || i === undefined ? "--" : labels[i] || "");
  if (view.plot) view.plot.destroy();
  el.textContent = "";
  // @ts-ignore uPlot is a global script
  view.plot = new uPlot({
    width: Math.min(CHART_W, el.clientWidth || CHART_W), height: 200,
    scales: { x: { time: false, range: [-0.3, xs.length - 0.7] }, y: { range: [0, 100] } },
    axes: [
      { label: t(kind === "day" ? "supervision.axis_day" : "supervision.axis_month", { zone: zoneLabel() }), splits: () => xs, values: (/** @type {unknown} */ u, /** @type {number[]} */ sp) => sp.map((i) => labels[i] || "") },
      { label: "%", values: (/** @type {unknown} */ u, /** @type {number[]} */ sp) => sp.map((v) => num(v, 0)) },
    ],
    series: [
      { label: t("supervision.r.period"), value: label },
      { label: t("supervision.online_rate"), stroke: "#2a9d8f", width: 2, points: { show: true, size: 7 }, value: (/** @type {unknown} */ u, /** @type {number | null} */ v) => (v === null ? "--" : num(v, 1) + "%") },
      { label: t("supervision.completeness"), stroke: "#6a4c93", width: 2, dash: [6, 4], points: { show: true, size: 5 }, value: (/** @type {unknown} */ u, /** @type {number | null} */ v) => (v === null ? "--" : num(v, 1) + "%") },
    ],
  }, [xs, all.map((x) => rate(x.online_rate)), all.map((x) => rate(x.completeness))], el);
  el.dataset.points = String(xs.length);
}

async function show() {
  const root = view.root;
  if (!root) return;
  const division = view.division || (state.officer ? state.officer.division_code : "");
  const q = new URLSearchParams({ division, period: view.period });
  if (view.date) q.set("date", view.date);
  try {
    const [f, list] = await Promise.all([
      api("/supervision/figures?" + q.toString()),
      api("/supervision/reports?limit=60&division=" + encodeURIComponent(division)),
    ]);
    render(root, page(f, list));
    const select = (/** @type {string} */ id) => /** @type {HTMLSelectElement} */ (root.querySelector("#" + id));
    select("sv-division").addEventListener("change", () => { view.division = select("sv-division").value; show(); });
    select("sv-period").addEventListener("change", () => { view.period = select("sv-period").value; show(); });
    select("sv-date").addEventListener("change", () => {
      const v = select("sv-date").value.trim();
      if (/^\d{4}-\d{2}-\d{2}$/.test(v)) { view.date = v; show(); }
      else select("sv-date").setCustomValidity(t("supervision.date_hint", { zone: zoneLabel() }));
    });
    for (const row of /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll("[data-approval]"))) {
      row.addEventListener("click", () => {
        document.getElementById("tab-approvals")?.click();
        openApproval(Number(row.dataset.approval));
      });
    }
    await trend(f);
    document.dispatchEvent(new CustomEvent("gh:supervision-shown", { detail: { division: f.division_code, exceptions: f.exceptions.length, reports: list.length, zone: zoneLabel() } }));
  } catch (e) { report(e); }
}

registerPage({
  name: "supervision",
  label: "supervision.tab",
  allowed: (officer) => ["viewer", "duty_officer", "supervisor", "admin"].includes(officer.role),
  show(root) {
    view.root = root;
    show();
  },
  hide() {
    if (view.plot) view.plot.destroy();
    view.plot = null;
  },
});

subscribe(["lang"], () => {
  const root = view.root;
  if (root && !root.hidden) show();
});
