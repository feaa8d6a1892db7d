// @ts-check
// The regional geohazard meteorological risk warning (区域地质灾害气象风险预警) on the console:
// the warnings of the officer's divisions; a run on demand; a draft's map (its level areas in
// the four colours over the division boundaries), each division's level and the sites inside;
// an adjustment of a division's level with a reason; submission; approval by a second officer
// (which releases it: notified and published); a revision or withdrawal of a release; the
// verification of a season's released warnings against what happened (hits, misses, false
// alarms, POD, FAR, CSI, HSS per level and division). What is shown is what the server answers.

import { ApiFailure, api, report } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { registerPage } from "../lib/pages.js";
import { state, subscribe } from "../lib/store.js";
import { fmtTime, t } from "../lib/text.js";

/** @typedef {"blue" | "yellow" | "orange" | "red"} Level */
/** @typedef {{id: number, division_code: string, for_date: string, valid_from: string, valid_to: string, state: string, trigger: string, highest: Level | null, text_zh: string, prepared_by: number[], approved_by: number | null, submitted_at: string | null, released_at: string | null, cancelled_at: string | null, replaces: number | null, created_at: string, counts: {divisions: number, sites: number}}} Summary */
/** @typedef {{code: string, name: string, level: Level}} DivisionAt */
/** @typedef {{code: string, name: string, division_code: string, level: Level}} SiteAt */
/** @typedef {{officer_id: number, division_code: string, level: Level | null, cells: number, reason: string, at: string}} Adjustment */
/** @typedef {Summary & {areas: any, divisions: DivisionAt[], sites: SiteAt[], adjustments: Adjustment[], cap: {identifier: string, msg_type: string, sent: string}[], may_approve: boolean}} Detail */

/** @typedef {{level: Level, hits: number, misses: number, false_alarms: number, correct_negatives: number, pod: number | null, far: number | null, csi: number | null, hss: number | null}} Figures */
/** @typedef {{from: string, to: string, warnings: number[], events: number, event_cells: number, per_level: Figures[], per_division: {code: string, name: string, levels: Figures[]}[]}} Season */

const LEVELS = /** @type {Level[]} */ (["red", "orange", "yellow", "blue"]);
const COLOURS = { blue: "#1e6fd9", yellow: "#f2c200", orange: "#f07c00", red: "#d81e06" };

const view = {
  /** @type {HTMLElement | null} */ root: null,
  /** @type {number | null} */ shown: null,
  /** @type {any} */ map: null,
  /** The last refusal, shown until the next act: its text and the server's words. */
  problem: { key: "", detail: "" },
};

const role = () => (state.officer ? state.officer.role : "");
const mayPrepare = () => role() === "duty_officer" || role() === "admin";
const mayApprove = () => role() === "supervisor" || role() === "admin";

/** @param {Level | null | undefined} l */
const chip = (l) => html`<span class="chip lvl-${l || "none"}">${t("level." + (l || "none"))}</span>`;

/** A division's name as the console knows it. @param {string} code */
function divisionName(code) {
  const d = state.divisions.find((x) => x.code === code);
  return d ? d.name : code;
}

/** @param {{key: string, detail: string}} p */
const problem = (p) => (p.key ? html`<p class="error" id="forecast-problem" data-key="${p.key}" title="${p.detail}">${t(p.key)}</p>` : "");

/** @param {Summary[]} list */
function board(list) {
  return html`<h2>${t("forecast.title")}</h2>
    ${problem(view.problem)}
    ${mayPrepare() ? html`<p class="actions"><label>${t("forecast.date")} <input type="date" id="forecast-date"></label>
      <button type="button" class="big" id="forecast-run">${t("forecast.run")}</button>
      <a href="/public/forecast" target="_blank" rel="noopener">${t("forecast.public")}</a></p>` : html`<p><a href="/public/forecast" target="_blank" rel="noopener">${t("forecast.public")}</a></p>`}
    ${list.length ? html`<table class="grid" id="forecast-list"><tr><th>${t("forecast.for_date")}</th><th>${t("forecast.division")}</th><th>${t("forecast.highest")}</th><th>${t("forecast.state")}</th><th>${t("forecast.counts")}</th><th>${t("forecast.created")}</th></tr>
      ${list.map((w) => html`<tr class="clickable" data-forecast="${w.id}" data-state="${w.state}"><td>${w.for_date}</td><td>${divisionName(w.division_code)}</td><td>${chip(w.highest)}</td><td><span class="chip fstate-${w.state}">${t("forecast.state." + stateOf(w))}</span></td><td>${t("forecast.count_line", { divisions: w.counts.divisions, sites: w.counts.sites })}</td><td>${fmtTime(w.created_at)}</td></tr>`)}</table>`
      : html`<p>${t("forecast.none")}</p>`}
    <h3>${t("forecast.verify.title")}</h3>
    <p class="form-line"><label>${t("forecast.verify.from")} <input type="date" id="verify-from"></label>
      <label>${t("forecast.verify.to")} <input type="date" id="verify-to"></label>
      <button type="button" id="verify-run">${t("forecast.verify.run")}</button></p>
    <div id="verify-box"></div>`;
}

/** A ratio to three places, a dash when undefined. @param {number | null} x */
const ratio = (x) => (x === null || x === undefined ? "–" : x.toFixed(3));

/** One row of figures. @param {Figures} f */
const figures = (f) => html`<td>${chip(f.level)}</td><td>${f.hits}</td><td>${f.misses}</td><td>${f.false_alarms}</td><td>${ratio(f.pod)}</td><td>${ratio(f.far)}</td><td>${ratio(f.csi)}</td><td>${ratio(f.hss)}</td>`;

const figureHeads = () => ["forecast.verify.level", "forecast.verify.hits", "forecast.verify.misses", "forecast.verify.false_alarms", "forecast.verify.pod", "forecast.verify.far", "forecast.verify.csi", "forecast.verify.hss"].map((k) => html`<th>${t(k)}</th>`);

/**
 * The verification of a season: per level (warned at or above it), then per division the
 * levels that were warned or missed.
 * @param {Season} s
 */
function season(s) {
  const touched = (/** @type {Figures} */ f) => f.hits + f.misses + f.false_alarms > 0;
  return html`<p id="verify-summary">${t("forecast.verify.summary", { from: s.from, to: s.to, warnings: s.warnings.length, events: s.events, cells: s.event_cells })}</p>
    ${s.warnings.length ? html`<table class="grid" id="verify-levels"><tr>${figureHeads()}</tr>
      ${s.per_level.map((f) => html`<tr data-level="${f.level}" data-hits="${f.hits}" data-misses="${f.misses}" data-false-alarms="${f.false_alarms}">${figures(f)}</tr>`)}</table>
      <h4>${t("forecast.verify.per_division")}</h4>
      <table class="grid" id="verify-divisions"><tr><th>${t("forecast.division")}</th>${figureHeads()}</tr>
      ${s.per_division.flatMap((d) => d.levels.filter(touched).map((f) => html`<tr data-division="${d.code}" data-level="${f.level}" data-hits="${f.hits}" data-misses="${f.misses}" data-false-alarms="${f.false_alarms}"><td>${d.name}</td>${figures(f)}</tr>`))}</table>
      <p class="msg">${t("forecast.verify.note")}</p>`
      : html`<p>${t("forecast.verify.none")}</p>`}`;
}

/** Reads and shows the season between the board's dates (the server's default when empty). */
async function showSeason() {
  const root = view.root;
  const box = root && root.querySelector("#verify-box");
  if (!root || !box) return;
  const from = /** @type {HTMLInputElement} */ (root.querySelector("#verify-from")).value;
  const to = /** @type {HTMLInputElement} */ (root.querySelector("#verify-to")).value;
  const q = new URLSearchParams();
  if (from) q.set("from", from);
  if (to) q.set("to", to);
  try {
    /** @type {Season} */
    const s = await api("/forecast/verification?" + q.toString());
    if (!box.isConnected) return;
    render(/** @type {HTMLElement} */ (box), season(s));
    document.dispatchEvent(new CustomEvent("gh:verification-shown", { detail: { warnings: s.warnings.length, events: s.events } }));
  } catch (e) {
    refused(e);
    render(/** @type {HTMLElement} */ (box), html`${problem(view.problem)}`);
    view.problem = { key: "", detail: "" };
  }
}

/** A draft submitted is shown as awaiting approval. @param {Summary} w */
function stateOf(w) {
  return w.state === "draft" && w.submitted_at ? "submitted" : w.state;
}

/** @param {Detail} d */
function detail(d) {
  const st = stateOf(d);
  const divisions = state.divisions.filter((x) => x.boundary && x.code !== d.division_code);
  return html`<p><button type="button" id="forecast-back" class="link">${t("forecast.back")}</button></p>
    <h2 id="forecast-title">${t("forecast.heading", { date: d.for_date, division: divisionName(d.division_code) })}
      ${chip(d.highest)} <span class="chip fstate-${d.state}" id="forecast-state" data-state="${st}">${t("forecast.state." + st)}</span></h2>
    <p>${t("forecast.valid", { from: fmtTime(d.valid_from), to: fmtTime(d.valid_to) })}${d.released_at ? html` · ${t("forecast.released_at")} ${fmtTime(d.released_at)}` : ""}</p>
    ${problem(view.problem)}
    <div class="incident-split">
      <div><div id="forecast-map"></div>
        <ul class="forecast-legend">${LEVELS.map((l) => html`<li><span class="swatch" style="background:${COLOURS[l]}"></span>${t("forecast.level_area", { level: t("level." + l) })}</li>`)}</ul></div>
      <div>
        <h3>${t("forecast.divisions")}</h3>
        ${d.divisions.length ? html`<table class="grid" id="forecast-divisions"><tr><th>${t("forecast.division")}</th><th>${t("forecast.level")}</th></tr>
          ${d.divisions.map((x) => html`<tr data-division="${x.code}" data-level="${x.level}"><td>${x.name}</td><td>${chip(x.level)}</td></tr>`)}</table>`
          : html`<p>${t("forecast.no_divisions")}</p>`}
        <h3>${t("forecast.sites")}</h3>
        ${d.sites.length ? html`<table class="grid" id="forecast-sites"><tr><th>${t("forecast.site")}</th><th>${t("forecast.division")}</th><th>${t("forecast.level")}</th></tr>
          ${d.sites.map((s) => html`<tr data-site="${s.code}" data-level="${s.level}"><td>${s.name} (${s.code})</td><td>${divisionName(s.division_code)}</td><td>${chip(s.level)}</td></tr>`)}</table>`
          : html`<p>${t("forecast.no_sites")}</p>`}
        ${d.state === "draft" && mayPrepare() ? html`<h3>${t("forecast.adjust")}</h3>
          <p class="form-line"><label>${t("forecast.division")} <select id="adjust-division">${divisions.map((x) => html`<option value="${x.code}">${x.name}</option>`)}</select></label>
          <label>${t("forecast.level")} <select id="adjust-level"><option value="none">${t("level.none")}</option>${LEVELS.map((l) => html`<option value="${l}">${t("level." + l)}</option>`)}</select></label></p>
          <p class="form-line"><label>${t("forecast.reason")} <input id="adjust-reason" size="40"></label>
          <button type="button" class="big" id="forecast-adjust">${t("forecast.adjust_do")}</button></p>
          ${d.submitted_at ? "" : html`<p><button type="button" class="big" id="forecast-submit">${t("forecast.submit")}</button></p>`}` : ""}
        ${d.state === "draft" && d.submitted_at && mayApprove() ? html`<h3>${t("forecast.approve")}</h3>
          ${d.may_approve ? html`<p class="form-line"><label>${t("forecast.text_zh")} <input id="approve-text" size="40"></label>
            <button type="button" class="big" id="forecast-approve">${t("forecast.approve_do")}</button></p>`
          : html`<p id="forecast-own">${t("forecast.own_draft")}</p>`}` : ""}
        ${d.state === "released" ? html`<p class="actions">
          ${mayPrepare() ? html`<button type="button" class="big" id="forecast-revise">${t("forecast.revise")}</button>` : ""}
          ${mayApprove() ? html`<label>${t("forecast.reason")} <input id="withdraw-reason" size="30"></label> <button type="button" class="big" id="forecast-withdraw">${t("forecast.withdraw")}</button>` : ""}</p>` : ""}
        <h3>${t("forecast.adjustments")}</h3>
        ${d.adjustments.length ? html`<ol id="forecast-adjustments">${d.adjustments.map((a) => html`<li>${divisionName(a.division_code)} → ${chip(a.level)} · ${t("forecast.cells", { n: a.cells })} · ${a.reason} · ${fmtTime(a.at)}</li>`)}</ol>`
          : html`<p>${t("forecast.no_adjustments")}</p>`}
        ${d.cap.length ? html`<h3>${t("forecast.cap")}</h3><ul id="forecast-cap">${d.cap.map((c) => html`<li><a href="/public/forecast/cap/${c.identifier}.xml" target="_blank" rel="noopener">${t("forecast.msg." + c.msg_type)} · ${c.identifier}</a> · ${fmtTime(c.sent)}</li>`)}</ul>` : ""}
      </div>
    </div>`;
}

/** Draws the level areas over the division boundaries. @param {Detail} d */
function drawMap(d) {
  const el = document.getElementById("forecast-map");
  // @ts-ignore Leaflet is a global script
  const L = window.L;
  if (!el || !L) return;
  if (view.map) view.map.remove();
  view.map = L.map(el, { zoomControl: true, attributionControl: false });
  const bounds = L.featureGroup().addTo(view.map);
  const features = state.divisions.filter((x) => x.boundary).map((x) => ({ type: "Feature", geometry: x.boundary, properties: {} }));
  L.geoJSON({ type: "FeatureCollection", features }, { style: { color: "#8aa", weight: 1, fill: false } }).addTo(bounds);
  // Lowest first, so the higher are drawn on top.
  const areas = [...(d.areas.features || [])].reverse();
  L.geoJSON({ type: "FeatureCollection", features: areas }, {
    style: (/** @type {any} */ f) => ({ color: "#333", weight: 1, fillColor: COLOURS[/** @type {Level} */ (f.properties.level)], fillOpacity: 0.7 }),
  }).addTo(bounds);
  const b = bounds.getBounds();
  if (b.isValid()) view.map.fitBounds(b.pad(0.05));
  else view.map.setView([30.6, 104.0], 6);
}

/** @param {unknown} e */
function refused(e) {
  if (!(e instanceof ApiFailure)) return report(e);
  const key = e.status === 403 ? "forecast.refused.forbidden" : e.status === 409 ? "forecast.refused.conflict" : e.status === 400 || e.status === 422 ? "forecast.refused.invalid" : "forecast.refused.failed";
  view.problem = { key, detail: e.message };
}

async function showBoard() {
  view.shown = null;
  const root = view.root;
  if (!root) return;
  try {
    /** @type {Summary[]} */
    const list = await api("/forecast/warnings");
    if (view.shown !== null) return;
    render(root, board(list));
    view.problem = { key: "", detail: "" };
    for (const row of /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll("[data-forecast]"))) row.addEventListener("click", () => openWarning(Number(row.dataset.forecast)));
    root.querySelector("#verify-run")?.addEventListener("click", showSeason);
    root.querySelector("#forecast-run")?.addEventListener("click", async () => {
      const date = /** @type {HTMLInputElement} */ (root.querySelector("#forecast-date")).value;
      try {
        const w = await api("/forecast/runs", { method: "POST", body: JSON.stringify(date ? { date } : {}) });
        openWarning(w.id);
      } catch (e) {
        refused(e);
        showBoard();
      }
    });
  } catch (e) { report(e); }
}

/**
 * Does `act` then shows the warning `id` again (with the refusal, if any).
 * @param {number} id @param {() => Promise<any>} act
 */
async function act(id, act) {
  view.problem = { key: "", detail: "" };
  let next = id;
  try {
    const answer = await act();
    if (answer && typeof answer.id === "number" && answer.id !== id) next = answer.id;
  } catch (e) { refused(e); }
  openWarning(next);
}

/** @param {number} id */
export async function openWarning(id) {
  view.shown = id;
  const root = view.root;
  if (!root) return;
  try {
    /** @type {Detail} */
    const d = await api("/forecast/warnings/" + id);
    if (view.shown !== id) return;
    render(root, detail(d));
    drawMap(d);
    const value = (/** @type {string} */ css) => /** @type {HTMLInputElement} */ (root.querySelector(css)).value;
    const post = (/** @type {string} */ what, /** @type {object} */ body) => api("/forecast/warnings/" + id + "/" + what, { method: "POST", body: JSON.stringify(body) });
    root.querySelector("#forecast-back")?.addEventListener("click", () => { view.problem = { key: "", detail: "" }; showBoard(); });
    root.querySelector("#forecast-adjust")?.addEventListener("click", () => act(id, () => post("adjust", { division: value("#adjust-division"), level: value("#adjust-level"), reason: value("#adjust-reason") })));
    root.querySelector("#forecast-submit")?.addEventListener("click", () => act(id, () => post("submit", {})));
    root.querySelector("#forecast-approve")?.addEventListener("click", () => act(id, () => post("approve", { text_zh: value("#approve-text") })));
    root.querySelector("#forecast-revise")?.addEventListener("click", () => act(id, () => post("revise", {})));
    root.querySelector("#forecast-withdraw")?.addEventListener("click", () => act(id, () => post("withdraw", { reason: value("#withdraw-reason") })));
    document.dispatchEvent(new CustomEvent("gh:forecast-shown", { detail: { id, state: stateOf(d), divisions: d.divisions.length, sites: d.sites.length } }));
  } catch (e) { report(e); }
}

registerPage({
  name: "forecast",
  label: "forecast.tab",
  allowed: (officer) => officer.role !== "village_monitor" && officer.role !== "field_staff",
  show(root) {
    view.root = root;
    if (view.shown !== null) openWarning(view.shown);
    else showBoard();
  },
});

subscribe(["lang"], () => {
  const root = view.root;
  if (!root || root.hidden) return;
  if (view.shown !== null) openWarning(view.shown);
  else showBoard();
});
