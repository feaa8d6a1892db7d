// @ts-check
// The list view (列表): the sites of the officer's divisions with their current level and the
// warnings raised at each in a period, and the warnings raised in that period; a row opens the
// site or the warning; both lists download as XLSX or CSV (the server's export, scoped like the
// lists, same period).

import { api, report } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { registerPage } from "../lib/pages.js";
import { state, subscribe } from "../lib/store.js";
import { fmtTime, sourceText, summaryOf, t, timeZone, zoneLabel } from "../lib/text.js";
import { openSite } from "./site.js";
import { openWarning } from "./warning.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

const PERIODS = { "24h": 1, "7d": 7, "30d": 30, "90d": 90 };
const DAY = 86400000;

/** What the page shows. */
const view = {
  /** @type {"sites" | "warnings"} */ what: "sites",
  /** A key of PERIODS or "custom". */ period: "7d",
  from: "",
  to: "",
};
/** The page's root while shown. @type {HTMLElement | null} */
let shownIn = null;
/** Warnings raised in the period, as the store holds them. @type {any[]} */
let warnings = [];

/**
 * Midnight at the start of `day` (YYYY-MM-DD) in the agency's zone.
 * @param {string} day
 */
export function zoneMidnight(day) {
  const guess = new Date(day + "T00:00:00Z");
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: timeZone(), hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(guess);
  const get = (/** @type {string} */ type) => Number((parts.find((p) => p.type === type) || { value: "0" }).value);
  const shown = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return new Date(guess.getTime() - (shown - guess.getTime()));
}

/** The period as [from, to) instants (ISO), to from the custom dates' day after. */
function period() {
  if (view.period === "custom") {
    const from = view.from ? zoneMidnight(view.from).toISOString() : "";
    const to = view.to ? new Date(zoneMidnight(view.to).getTime() + DAY).toISOString() : "";
    return { from, to };
  }
  const days = PERIODS[/** @type {keyof typeof PERIODS} */ (view.period)] || 7;
  return { from: new Date(Date.now() - days * DAY).toISOString(), to: "" };
}

/** The query string of the period (and more). @param {Record<string, string>} extra */
function query(extra) {
  const { from, to } = period();
  const q = new URLSearchParams(extra);
  if (from) q.set("from", from);
  if (to) q.set("to", to);
  return q.toString();
}

async function load() {
  try {
    warnings = await api("/warnings?" + query({ state: "all", limit: "5000" }));
  } catch (e) {
    report(e);
    warnings = [];
  }
}

/** @param {string | null} level */
const levelChip = (level) => level
  ? html`<span class="chip lvl-${level}">${t("levelname." + level)}</span>`
  : html`<span class="chip lvl-none">${t("level.none")}</span>`;

function sitesTable() {
  /** @type {Map<number, {n: number, peak: string | null}>} */
  const bySite = new Map();
  const order = ["blue", "yellow", "orange", "red"];
  for (const w of warnings) {
    const e = bySite.get(w.site.id) || { n: 0, peak: null };
    e.n++;
    if (order.indexOf(w.peak_level) > order.indexOf(e.peak || "")) e.peak = w.peak_level;
    bySite.set(w.site.id, e);
  }
  const sites = [...state.sites.values()].sort((a, b) => a.code.localeCompare(b.code));
  $("list-count").textContent = t("lists.count_sites", { n: sites.length });
  return html`<table class="grid" id="list-table" data-what="sites"><thead><tr>${
    ["lists.col.code", "lists.col.name", "lists.col.kind", "lists.col.division", "lists.col.level", "lists.col.count", "lists.col.peak"].map((k) => html`<th>${t(k)}</th>`)
  }</tr></thead><tbody>${sites.map((s) => {
    const e = bySite.get(s.id) || { n: 0, peak: null };
    return html`<tr data-site="${s.id}" data-code="${s.code}" tabindex="0"><td>${s.code}</td><td>${s.name}</td><td>${t("kind." + s.type)}</td><td>${s.division.name}</td><td>${levelChip(s.warning_level)}</td><td>${e.n}</td><td>${levelChip(e.peak)}</td></tr>`;
  })}</tbody></table>`;
}

function warningsTable() {
  $("list-count").textContent = t("lists.count_warnings", { n: warnings.length });
  if (!warnings.length) return html`<p class="msg" id="list-table" data-what="warnings">${t("lists.empty")}</p>`;
  return html`<table class="grid" id="list-table" data-what="warnings"><thead><tr>${
    ["lists.col.site", "filter.level", "lists.col.state", "lists.col.source", "lists.col.summary", "lists.col.raised", "lists.col.updated"].map((k) => html`<th>${t(k)}</th>`)
  }</tr></thead><tbody>${warnings.map((w) => html`<tr data-warning="${w.id}" tabindex="0"><td>${w.site.name}</td><td>${levelChip(w.level)}</td><td><span class="chip state-${w.state}">${t("state." + w.state)}</span></td><td>${sourceText(w.source)}</td><td>${summaryOf(w)}</td><td>${fmtTime(w.raised_at)}</td><td>${fmtTime(w.updated_at)}</td></tr>`)}</tbody></table>`;
}

function draw() {
  const root = shownIn;
  if (!root) return;
  const what = view.what;
  const file = (/** @type {string} */ format) => `/api/v1/${what}/export?` + query(what === "warnings" ? { format, state: "all" } : { format });
  render(root, html`<h2>${t("lists.title")}</h2>
    <section class="filters list-bar">
      <span class="seg" role="tablist">
        <button type="button" id="list-sites" role="tab" class="tab${what === "sites" ? " active" : ""}" aria-selected="${String(what === "sites")}">${t("lists.sites")}</button>
        <button type="button" id="list-warnings" role="tab" class="tab${what === "warnings" ? " active" : ""}" aria-selected="${String(what === "warnings")}">${t("lists.warnings")}</button>
      </span>
      <label><span>${t("lists.period")}</span><select id="list-period">${
        [...Object.keys(PERIODS), "custom"].map((p) => html`<option value="${p}"${p === view.period ? html` selected` : ""}>${t("lists.period." + p)}</option>`)
      }</select></label>
      <span id="list-custom"${view.period === "custom" ? "" : html` hidden`}>
        <label><span>${t("lists.from")}</span><input type="date" id="list-from" value="${view.from}"></label>
        <label><span>${t("lists.to")}</span><input type="date" id="list-to" value="${view.to}"></label>
        <span class="hint">${t("lists.zone_hint", { zone: zoneLabel() })}</span>
      </span>
      <span id="list-count"></span>
      <a id="list-export-xlsx" class="button" href="${file("xlsx")}" download>${t("lists.export_xlsx")}</a>
      <a id="list-export-csv" class="button" href="${file("csv")}" download>${t("lists.export_csv")}</a>
    </section>
    <div class="list-body" id="list-body"></div>`);
  render($("list-body"), what === "sites" ? sitesTable() : warningsTable());
  $("list-sites").onclick = () => { view.what = "sites"; draw(); };
  $("list-warnings").onclick = () => { view.what = "warnings"; draw(); };
  $("list-period").onchange = () => { view.period = $("list-period").value; reload(); };
  const dates = () => { view.from = $("list-from").value; view.to = $("list-to").value; reload(); };
  $("list-from").onchange = dates;
  $("list-to").onchange = dates;
  $("list-body").onclick = (ev) => {
    const row = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (ev.target).closest("tr[data-site], tr[data-warning]"));
    if (!row) return;
    if (row.dataset.site) openSite(Number(row.dataset.site));
    else openWarning(Number(row.dataset.warning));
  };
}

async function reload() {
  await load();
  draw();
  document.dispatchEvent(new CustomEvent("gh:list-shown", { detail: { what: view.what, warnings: warnings.length } }));
}

registerPage({
  name: "lists",
  label: "lists.tab",
  show(root) {
    shownIn = root;
    return reload();
  },
  hide() {
    shownIn = null;
  },
});

subscribe(["lang", "sites"], () => draw());
