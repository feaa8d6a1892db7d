// @ts-check
// Divisions (行政区划, issue 24): the officer's division and those below it, with their codes
// (GB/T 2260), levels and boundaries on a map; names edited in place; a GeoJSON file of codes,
// names and boundaries checked and imported, every bad feature reported by number, field,
// value and reason, nothing imported while any is bad.

import { api, report, session } from "../lib/api.js";
import { html, markup, render } from "../lib/html.js";
import { registerPage } from "../lib/pages.js";
import { changed, state, subscribe } from "../lib/store.js";
import { getLang, t } from "../lib/text.js";

/** @typedef {{feature: number, field: string, value: string, reason: string, message: string}} FeatureProblem */

const $ = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/** @type {HTMLElement | null} */
let shownIn = null;
/** @type {any} */
let map = null;
/** The last import's answer, redrawn on a language switch. @type {{status: number, body: any} | null} */
let lastImport = null;

const canChange = () => state.officer?.role === "admin";

/** @param {string} method @param {string} path @param {BodyInit | null} body @param {string} type */
async function send(method, path, body, type) {
  /** @type {Record<string, string>} */
  const headers = { "content-type": type, "accept-language": getLang() };
  if (session.csrf) headers["x-csrf-token"] = session.csrf;
  const r = await fetch("/api/v1" + path, { method, headers, body, credentials: "same-origin" });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** Reloads the divisions in scope into the store (the map and every page's lists). */
async function reload() {
  state.divisions = await api("/divisions");
  changed("divisions");
}

/** @param {HTMLElement} root */
function show(root) {
  shownIn = root;
  const ds = state.divisions;
  render(root, html`<h2>${t("divisions.title")}</h2>
    ${canChange() && html`<section class="divisions-import">
      <h3>${t("divisions.import")}</h3>
      <p class="hint">${t("divisions.import_hint")}</p>
      <input type="file" id="divisions-file" accept=".geojson,.json">
      <button type="button" id="divisions-check">${t("register.page.check")}</button>
      <button type="button" id="divisions-import">${t("register.page.import_go")}</button>
      <div id="divisions-report"></div>
    </section>`}
    <div id="divisions-map" style="height: 360px; max-width: 860px"></div>
    <h3>${t("divisions.list", { n: ds.length })}</h3>
    <table class="grid" id="divisions-list"><tr>${["divisions.code", "divisions.name", "divisions.level", "divisions.parent", "divisions.boundary"].map((k) => html`<th>${t(k)}</th>`)}</tr>${
      ds.map((d) => html`<tr data-code="${d.code}"><td>${d.code}</td>
        <td>${canChange() ? html`<input class="division-name" data-code="${d.code}" value="${d.name}" maxlength="100"> <button type="button" class="division-rename" data-code="${d.code}">${t("divisions.rename")}</button>` : d.name}</td>
        <td>${t("divisions.level." + d.level)}</td><td>${d.parent_code || ""}</td><td>${t(d.boundary ? "divisions.has_boundary" : "divisions.no_boundary")}</td></tr>`)}</table>
    <p id="divisions-msg" class="msg" role="status"></p>`);
  placeMap();
  if (!canChange()) return;
  $("divisions-check").addEventListener("click", () => upload(true));
  $("divisions-import").addEventListener("click", () => upload(false));
  for (const b of root.querySelectorAll(".division-rename")) {
    b.addEventListener("click", () => rename(/** @type {HTMLElement} */ (b).dataset.code || ""));
  }
  if (lastImport) drawReport(lastImport);
}

function placeMap() {
  if (map) { map.remove(); map = null; }
  map = L.map("divisions-map", { minZoom: 3, maxZoom: 18 }).setView([28.8, 104.6], 7);
  api("/console").then((/** @type {import("../types").ConsoleSettings} */ s) => {
    if (s.tile_url && map) L.tileLayer(s.tile_url, { attribution: markup(html`${s.tile_attribution || ""}`), maxZoom: 18 }).addTo(map);
  }).catch(report);
  const bounded = state.divisions.filter((d) => d.boundary);
  if (bounded.length) {
    const layer = L.geoJSON(bounded.map((d) => ({ type: "Feature", properties: { name: d.name }, geometry: d.boundary })), {
      style: { color: "#1f6feb", weight: 1, fillOpacity: 0.06 },
      onEachFeature: (/** @type {any} */ f, /** @type {any} */ l) => l.bindTooltip(f.properties.name),
    }).addTo(map);
    map.fitBounds(layer.getBounds());
  }
}

/** @param {string} code */
async function rename(code) {
  const input = /** @type {HTMLInputElement} */ (document.querySelector(`.division-name[data-code="${code}"]`));
  const msg = $("divisions-msg");
  try {
    const r = await send("PUT", `/divisions/${code}`, JSON.stringify({ name: input.value }), "application/json");
    if (r.status === 200) {
      await reload();
      const m = $("divisions-msg");
      m.className = "msg ok";
      m.textContent = t("divisions.renamed", { code, name: r.body.name });
    } else {
      msg.className = "msg error";
      msg.textContent = (r.body && r.body.error) || String(r.status);
    }
  } catch (e) { report(e); }
}

/** @param {boolean} dryRun */
async function upload(dryRun) {
  const file = $("divisions-file").files?.[0];
  if (!file) { render($("divisions-report"), html`<p class="msg error">${t("register.page.no_file")}</p>`); return; }
  const q = new URLSearchParams({ lang: getLang(), filename: file.name });
  if (dryRun) q.set("dry_run", "true");
  try {
    lastImport = await send("POST", "/divisions/import?" + q, file, "application/geo+json");
    if (lastImport.status === 200 && !dryRun) await reload();
    else drawReport(lastImport);
  } catch (e) { report(e); }
}

/** @param {{status: number, body: any}} answer */
function drawReport(answer) {
  const el = document.getElementById("divisions-report");
  if (!el) return;
  const b = answer.body || {};
  if (answer.status === 200) {
    render(el, html`<p class="msg ok" id="divisions-summary">${t(b.dry_run ? "register.page.would_import" : "register.page.imported", { created: b.created, updated: b.updated, unchanged: b.unchanged })}</p>`);
    return;
  }
  /** @type {FeatureProblem[]} */
  const problems = b.problems || [];
  render(el, html`<p class="msg error" id="divisions-refused">${b.error || answer.status}</p>
    ${problems.length > 0 && html`<table class="grid" id="divisions-problems"><tr>${["divisions.feature", "divisions.field", "register.page.value", "register.page.reason"].map((k) => html`<th>${t(k)}</th>`)}</tr>${
      problems.map((p) => html`<tr data-feature="${p.feature}"><td>${p.feature}</td><td>${t(p.field === "code" || p.field === "name" ? "divisions." + p.field : "register.field." + p.field)}</td><td>${p.value}</td><td>${t("register.reason." + p.reason)}</td></tr>`)}</table>`}`);
}

registerPage({
  name: "divisions",
  label: "divisions.tab",
  // Kept by admins; the others see the divisions on the map (and the bar stays one line).
  allowed: (o) => o.role === "admin",
  show,
  hide() {
    if (map) { map.remove(); map = null; }
    shownIn = null;
  },
});

subscribe(["lang", "divisions"], () => { if (shownIn) show(shownIn); });
