// @ts-check
// The register (台账): the hazard sites of the officer's divisions as the register holds them;
// a new site placed on the map; a county's register file (XLSX or CSV) checked and imported,
// with every bad cell reported by row and column; the register exported.

import { api, report, session } from "../lib/api.js";
import { html, markup, render } from "../lib/html.js";
import { registerPage } from "../lib/pages.js";
import { state, subscribe } from "../lib/store.js";
import { getLang, num, t } from "../lib/text.js";
import { closeSiteEditor, openSiteEditor } from "./site-editor.js";
import { showRules } from "./rules.js";

/** @typedef {{row: number, column: string, field: string, value: string, reason: string, message: string}} RowProblem */

const $ = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/** The page's root while shown. @type {HTMLElement | null} */
let shownIn = null;
/** The form's map. @type {any} */
let map = null;
/** @type {any} */
let pin = null;
/** The last import's answer, redrawn on a language switch. @type {{status: number, body: any} | null} */
let lastImport = null;

const KINDS = ["landslide", "rockfall", "debris_flow", "subsidence", "fissure"];
const SCALES = ["", "small", "medium", "large", "huge"];

/**
 * A request with the console's language and the session's CSRF token: the status and the
 * JSON answer.
 * @param {string} method @param {string} path @param {BodyInit | null} body @param {string} type
 */
async function send(method, path, body, type) {
  /** @type {Record<string, string>} */
  const headers = { "content-type": type, "accept-language": getLang() };
  if (session.csrf) headers["x-csrf-token"] = session.csrf;
  const r = await fetch("/api/v1" + path, { method, headers, body, credentials: "same-origin" });
  return { status: r.status, body: await r.json().catch(() => null) };
}

const canChange = () => state.officer?.role === "admin";

/** @param {HTMLElement} root */
async function show(root) {
  closeSiteEditor();
  shownIn = root;
  /** The sites with their register fields. @type {any[]} */
  let sites = [];
  try { sites = await api("/sites"); } catch (e) { report(e); }
  const ownDivisions = state.divisions.filter((d) => d.level === "county" || d.level === "township");
  render(root, html`<h2>${t("register.page.title")}</h2>
    <section class="register-bar">
      <a id="register-export-xlsx" class="button" href="/api/v1/register/export?format=xlsx" download>${t("register.page.export_xlsx")}</a>
      <a id="register-export-csv" class="button" href="/api/v1/register/export?format=csv" download>${t("register.page.export_csv")}</a>
    </section>
    ${canChange() && html`<section class="register-import">
      <h3>${t("register.page.import")}</h3>
      <p class="hint">${t("register.page.import_hint")}</p>
      <input type="file" id="register-file" accept=".xlsx,.xls,.csv">
      <button type="button" id="register-check">${t("register.page.check")}</button>
      <button type="button" id="register-import">${t("register.page.import_go")}</button>
      <div id="register-report"></div>
    </section>
    <section class="register-new">
      <h3>${t("register.page.new")}</h3>
      <p class="hint">${t("register.page.new_hint")}</p>
      <div id="register-map" style="height: 320px; max-width: 720px"></div>
      <form id="register-form" class="register-form">
        <label>${t("register.field.code")}<input id="register-code" required></label>
        <label>${t("register.field.name")}<input id="register-name" required></label>
        <label>${t("register.field.type")}<select id="register-type">${KINDS.map((k) => html`<option value="${k}">${t("kind." + k)}</option>`)}</select></label>
        <label>${t("register.field.division_code")}<select id="register-division">${ownDivisions.map((d) => html`<option value="${d.code}">${d.name} (${d.code})</option>`)}</select></label>
        <label>${t("register.field.longitude")}<input id="register-lon"></label>
        <label>${t("register.field.latitude")}<input id="register-lat"></label>
        <label>${t("register.field.scale_class")}<select id="register-scale">${SCALES.map((s) => html`<option value="${s}">${s ? t("register.page.scale." + s) : "—"}</option>`)}</select></label>
        <label>${t("register.field.threatened_people")}<input id="register-people" type="number" min="0" value="0"></label>
        <label>${t("register.field.threatened_property")}<input id="register-property" type="number" min="0" step="any" value="0"></label>
        <label>${t("register.field.monitor_name")}<input id="register-monitor"></label>
        <label>${t("register.field.monitor_phone")}<input id="register-phone"></label>
        <button type="submit" id="register-create">${t("register.page.create")}</button>
        <p id="register-msg" class="msg" role="status"></p>
      </form>
    </section>`}
    <div id="site-editor-host"></div>
    <h3>${t("register.page.list", { n: sites.length })}</h3>
    <table class="grid" id="register-sites"><tr>${["register.field.code", "register.field.name", "register.field.type", "register.field.division_code", "register.field.longitude", "register.field.latitude", "register.field.threatened_people", "register.field.status"].map((k) => html`<th>${t(k)}</th>`)}<th></th></tr>${
      sites.map((s) => html`<tr data-code="${s.code}"><td>${s.code}</td><td>${s.name}</td><td>${t("kind." + s.type)}</td><td>${s.division.name}</td><td>${num(s.location.coordinates[0], 5)}</td><td>${num(s.location.coordinates[1], 5)}</td><td>${s.threatened_people}</td><td>${t("register.page.status." + s.status)}</td><td><button type="button" class="site-open" data-id="${s.id}">${t(canChange() ? "site_edit.open" : "site_edit.open_read")}</button></td></tr>`)}</table>
    <section class="register-rules" id="register-rules"></section>`);
  showRules(/** @type {HTMLElement} */ ($("register-rules")));
  for (const b of root.querySelectorAll(".site-open")) {
    b.addEventListener("click", () => {
      const host = /** @type {HTMLElement} */ (document.getElementById("site-editor-host"));
      openSiteEditor(host, Number(/** @type {HTMLElement} */ (b).dataset.id)).then(() => host.scrollIntoView()).catch(report);
    });
  }
  if (!canChange()) return;
  $("register-check").addEventListener("click", () => upload(true));
  $("register-import").addEventListener("click", () => upload(false));
  $("register-form").addEventListener("submit", (ev) => { ev.preventDefault(); create(); });
  if (lastImport) drawReport(lastImport);
  placeMap();
}

function placeMap() {
  if (map) { map.remove(); map = null; pin = null; }
  map = L.map("register-map", { minZoom: 3, maxZoom: 18 }).setView([28.8, 104.6], 8);
  api("/console").then((/** @type {import("../types").ConsoleSettings} */ s) => {
    if (s.tile_url && map) L.tileLayer(s.tile_url, { attribution: markup(html`${s.tile_attribution || ""}`), maxZoom: 18 }).addTo(map);
  }).catch(report);
  const bounded = state.divisions.filter((d) => d.boundary);
  if (bounded.length) {
    const layer = L.geoJSON(bounded.map((d) => ({ type: "Feature", properties: {}, geometry: d.boundary })), { style: { color: "#1f6feb", weight: 1, fillOpacity: 0.04 } }).addTo(map);
    map.fitBounds(layer.getBounds());
  }
  map.on("click", (/** @type {any} */ e) => {
    $("register-lon").value = e.latlng.lng.toFixed(6);
    $("register-lat").value = e.latlng.lat.toFixed(6);
    if (pin) pin.setLatLng(e.latlng); else pin = L.circleMarker(e.latlng, { radius: 8, color: "#d81e06" }).addTo(map);
  });
}

async function create() {
  const v = (/** @type {string} */ id) => $(id).value.trim();
  const input = {
    code: v("register-code"), name: v("register-name"), type: v("register-type"),
    division_code: v("register-division"), longitude: v("register-lon"), latitude: v("register-lat"),
    scale_class: v("register-scale") || null, threatened_people: v("register-people"),
    threatened_property: v("register-property"), monitor_name: v("register-monitor") || null,
    monitor_phone: v("register-phone") || null,
  };
  const msg = $("register-msg");
  try {
    const r = await send("POST", "/sites", JSON.stringify(input), "application/json");
    if (r.status === 201) {
      msg.className = "msg ok";
      msg.textContent = t("register.page.created", { code: r.body.code });
      document.dispatchEvent(new CustomEvent("gh:sites-changed"));
      if (shownIn) { const root = shownIn; setTimeout(() => show(root).then(() => { const m = $("register-msg"); m.className = "msg ok"; m.textContent = t("register.page.created", { code: r.body.code }); }), 0); }
    } else {
      msg.className = "msg error";
      msg.textContent = (r.body && r.body.error) || String(r.status);
    }
  } catch (e) { report(e); }
}

/** @param {boolean} dryRun */
async function upload(dryRun) {
  const file = $("register-file").files?.[0];
  if (!file) { render($("register-report"), html`<p class="msg error">${t("register.page.no_file")}</p>`); return; }
  const q = new URLSearchParams({ lang: getLang(), filename: file.name });
  if (dryRun) q.set("dry_run", "true");
  try {
    lastImport = await send("POST", "/register/import?" + q, file, "application/octet-stream");
    drawReport(lastImport);
  } catch (e) { report(e); }
}

/** @param {{status: number, body: any}} answer */
function drawReport(answer) {
  const el = $("register-report");
  const b = answer.body || {};
  if (answer.status === 200) {
    render(el, html`<p class="msg ok" id="register-summary">${t(b.dry_run ? "register.page.would_import" : "register.page.imported", { created: b.created, updated: b.updated, unchanged: b.unchanged })}</p>`);
    return;
  }
  /** @type {RowProblem[]} */
  const problems = b.problems || [];
  render(el, html`<p class="msg error" id="register-refused">${b.error || answer.status}</p>
    ${problems.length > 0 && html`<table class="grid" id="register-problems"><tr>${["register.page.row", "register.page.column", "register.page.value", "register.page.reason"].map((k) => html`<th>${t(k)}</th>`)}</tr>${
      problems.map((p) => html`<tr data-row="${p.row}"><td>${p.row}</td><td>${p.column}</td><td>${p.value}</td><td>${t("register.reason." + p.reason)}</td></tr>`)}</table>`}`);
}

registerPage({
  name: "register",
  label: "register.page.tab",
  allowed: (o) => ["viewer", "duty_officer", "admin"].includes(o.role),
  show,
  hide() {
    closeSiteEditor();
    if (map) { map.remove(); map = null; pin = null; }
    shownIn = null;
  },
});

subscribe(["lang"], () => { if (shownIn) show(shownIn); });
