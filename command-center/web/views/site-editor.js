// @ts-check
// A site of the register edited on the map (issue 24): its location a marker dragged (or typed),
// its threat zone drawn vertex by vertex (click each, then 完成) and edited by dragging the
// vertices; saved on the version it was opened at (If-Match). Beside it the site's photos and
// documents: uploaded (checked by content on the server), listed, downloaded, deleted.

import { report, session } from "../lib/api.js";
import { html, markup, render } from "../lib/html.js";
import { state } from "../lib/store.js";
import { fmtTime, getLang, num, t } from "../lib/text.js";
import { showSiteSensors } from "./site-sensors.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/** @type {any} */
let map = null;
/** @type {any} */
let pin = null;
/** The zone drawn or being drawn: its outline and one draggable handle a vertex. @type {any} */
let outline = null;
/** @type {any[]} */
let handles = [];
/** The zone's vertices, [lat, lng], the ring not closed. @type {[number, number][]} */
let vertices = [];
let drawing = false;
/** The site as opened: its register record and version. @type {{id: number, etag: string, record: any} | null} */
let current = null;
/** The element the editor is drawn in. @type {HTMLElement | null} */
let shownIn = null;

/**
 * A request with the console's language and the session's CSRF token: the status, the JSON
 * answer and the ETag.
 * @param {string} method @param {string} path @param {BodyInit | null} body
 * @param {Record<string, string>} [extra]
 */
async function send(method, path, body, extra = {}) {
  /** @type {Record<string, string>} */
  const headers = { "accept-language": getLang(), ...extra };
  if (session.csrf) headers["x-csrf-token"] = session.csrf;
  const r = await fetch("/api/v1" + path, { method, headers, body, credentials: "same-origin" });
  return { status: r.status, etag: r.headers.get("etag") || "", body: await r.json().catch(() => null) };
}

const canChange = () => state.officer?.role === "admin";

/** A small square (a vertex) or round (the site) handle. @param {string} cls */
const handleIcon = (cls) => L.divIcon({ className: cls, iconSize: cls === "site-edit-pin" ? [18, 18] : [12, 12] });

/** Closes the editor (its map removed). */
export function closeSiteEditor() {
  if (map) map.remove();
  map = null; pin = null; outline = null; handles = []; vertices = []; drawing = false;
  current = null;
  if (shownIn) render(shownIn, html``);
  shownIn = null;
}

/**
 * Opens site `id` in `root`.
 * @param {HTMLElement} root @param {number} id
 */
export async function openSiteEditor(root, id) {
  closeSiteEditor();
  shownIn = root;
  const r = await send("GET", `/sites/${id}/register`, null);
  if (r.status !== 200) { render(root, html`<p class="msg error">${(r.body && r.body.error) || r.status}</p>`); return; }
  current = { id, etag: r.etag, record: r.body };
  const s = r.body;
  render(root, html`<section class="site-editor" id="site-editor" data-site="${id}">
    <h3>${t("site_edit.title", { name: s.name, code: s.code })}</h3>
    <p class="hint">${t(canChange() ? "site_edit.hint" : "site_edit.hint_read")}</p>
    <div id="site-edit-map" style="height: 420px; max-width: 860px"></div>
    ${canChange() && html`<div class="site-edit-tools">
      <label>${t("register.field.longitude")}<input id="site-edit-lon" value="${s.longitude.toFixed(6)}"></label>
      <label>${t("register.field.latitude")}<input id="site-edit-lat" value="${s.latitude.toFixed(6)}"></label>
      <button type="button" id="zone-draw">${t("site_edit.zone_draw")}</button>
      <button type="button" id="zone-finish" disabled>${t("site_edit.zone_finish")}</button>
      <button type="button" id="zone-clear">${t("site_edit.zone_clear")}</button>
      <span id="zone-state" class="hint"></span>
      <button type="button" id="site-edit-save">${t("site_edit.save")}</button>
      <button type="button" id="site-edit-close">${t("site_edit.close")}</button>
      <p id="site-edit-msg" class="msg" role="status"></p>
    </div>`}
    <h4>${t("attachments.title")}</h4>
    <div id="site-attachments"></div>
    ${canChange() && html`<div class="attachment-upload">
      <input type="file" id="attachment-file" accept=".jpg,.jpeg,.png,.pdf,.docx,.xlsx">
      <button type="button" id="attachment-upload">${t("attachments.upload")}</button>
      <span class="hint">${t("attachments.hint")}</span>
      <p id="attachment-msg" class="msg" role="status"></p>
    </div>`}
    <div id="site-sensors"></div>
  </section>`);
  placeMap(s);
  if (canChange()) wire();
  await Promise.all([listAttachments(), showSiteSensors(/** @type {HTMLElement} */ (document.getElementById("site-sensors")), id)]);
}

/** @param {any} s the register's record */
function placeMap(s) {
  map = L.map("site-edit-map", { minZoom: 3, maxZoom: 19, doubleClickZoom: false }).setView([s.latitude, s.longitude], 15);
  fetch("/api/v1/console", { credentials: "same-origin" }).then((r) => r.json()).then((/** @type {any} */ c) => {
    if (c && c.tile_url && map) L.tileLayer(c.tile_url, { attribution: markup(html`${c.tile_attribution || ""}`), maxZoom: 19 }).addTo(map);
  }).catch(report);
  pin = L.marker([s.latitude, s.longitude], { draggable: canChange(), icon: handleIcon("site-edit-pin"), title: s.name }).addTo(map);
  pin.on("drag", () => {
    const p = pin.getLatLng();
    $("site-edit-lon").value = p.lng.toFixed(6);
    $("site-edit-lat").value = p.lat.toFixed(6);
  });
  const ring = s.threat_zone && s.threat_zone.coordinates && s.threat_zone.coordinates[0];
  if (ring) {
    vertices = ring.slice(0, -1).map((/** @type {number[]} */ p) => /** @type {[number, number]} */ ([p[1], p[0]]));
    drawZone();
    map.fitBounds(outline.getBounds().extend(pin.getLatLng()), { padding: [30, 30] });
  }
  map.on("click", (/** @type {any} */ e) => {
    if (!drawing) return;
    vertices.push([e.latlng.lat, e.latlng.lng]);
    drawZone();
  });
}

/** Redraws the zone: a line while drawing, a polygon once finished; a handle a vertex. */
function drawZone() {
  if (outline) outline.remove();
  for (const h of handles) h.remove();
  handles = [];
  outline = null;
  if (vertices.length) {
    const style = { color: "#d81e06", weight: 2, fillOpacity: 0.15 };
    outline = (drawing ? L.polyline(vertices, style) : L.polygon(vertices, style)).addTo(map);
    vertices.forEach((v, i) => {
      const h = L.marker(v, { draggable: canChange(), icon: handleIcon("zone-vertex") }).addTo(map);
      h.on("drag", () => {
        const p = h.getLatLng();
        vertices[i] = [p.lat, p.lng];
        outline.setLatLngs(vertices);
      });
      handles.push(h);
    });
  }
  const stateEl = document.getElementById("zone-state");
  if (stateEl) {
    stateEl.textContent = drawing ? t("site_edit.zone_drawing", { n: vertices.length })
      : vertices.length ? t("site_edit.zone_points", { n: vertices.length }) : t("site_edit.zone_none");
  }
  const finish = /** @type {HTMLButtonElement | null} */ (document.getElementById("zone-finish"));
  if (finish) finish.disabled = !drawing || vertices.length < 3;
}

function wire() {
  $("zone-draw").addEventListener("click", () => { drawing = true; vertices = []; drawZone(); });
  $("zone-finish").addEventListener("click", () => { if (vertices.length >= 3) { drawing = false; drawZone(); } });
  $("zone-clear").addEventListener("click", () => { drawing = false; vertices = []; drawZone(); });
  $("site-edit-close").addEventListener("click", closeSiteEditor);
  for (const id of ["site-edit-lon", "site-edit-lat"]) {
    $(id).addEventListener("change", () => {
      const lon = Number($("site-edit-lon").value), lat = Number($("site-edit-lat").value);
      if (Number.isFinite(lon) && Number.isFinite(lat)) pin.setLatLng([lat, lon]);
    });
  }
  $("site-edit-save").addEventListener("click", () => { save().catch(report); });
  $("attachment-upload").addEventListener("click", () => { upload().catch(report); });
  drawZone();
}

async function save() {
  if (!current) return;
  const msg = $("site-edit-msg");
  if (drawing) { msg.className = "msg error"; msg.textContent = t("site_edit.finish_first"); return; }
  const zone = vertices.length >= 3
    ? { type: "Polygon", coordinates: [[...vertices, vertices[0]].map(([lat, lng]) => [Number(lng.toFixed(7)), Number(lat.toFixed(7))])] }
    : null;
  const input = { ...current.record, longitude: $("site-edit-lon").value.trim(), latitude: $("site-edit-lat").value.trim(), threat_zone: zone };
  for (const k of ["id", "version", "retired_at"]) delete input[k];
  const r = await send("PUT", `/sites/${current.id}`, JSON.stringify(input), { "content-type": "application/json", "if-match": current.etag });
  if (r.status === 200) {
    current = { id: current.id, etag: r.etag, record: r.body };
    msg.className = "msg ok";
    msg.textContent = t("site_edit.saved", { version: r.body.version });
    document.dispatchEvent(new CustomEvent("gh:sites-changed"));
  } else if (r.status === 409) {
    msg.className = "msg error";
    msg.textContent = t("site_edit.conflict", { fields: (r.body.changed || []).map((/** @type {string} */ f) => t("register.field." + f)).join("、") });
  } else {
    msg.className = "msg error";
    msg.textContent = (r.body && r.body.error) || String(r.status);
  }
}

/** @param {number} bytes */
const size = (bytes) => bytes >= 1024 * 1024 ? `${num(bytes / 1024 / 1024, 1)} MB` : `${num(bytes / 1024, 0)} KB`;

async function listAttachments() {
  if (!current) return;
  const r = await send("GET", `/sites/${current.id}/attachments`, null);
  const el = document.getElementById("site-attachments");
  if (!el) return;
  /** @type {any[]} */
  const files = r.status === 200 ? r.body : [];
  render(el, files.length === 0 ? html`<p class="hint" id="attachments-none">${t("attachments.none")}</p>`
    : html`<table class="grid" id="attachments-list"><tr>${["attachments.file", "attachments.kind", "attachments.size", "attachments.by", "attachments.at", ""].map((k) => html`<th>${k && t(k)}</th>`)}</tr>${
      files.map((f) => html`<tr data-attachment="${f.id}">
        <td>${f.content_type.startsWith("image/") && html`<img class="attachment-thumb" src="/api/v1/site-attachments/${f.id}" alt="" style="max-height: 48px; vertical-align: middle"> `}<a href="/api/v1/site-attachments/${f.id}" download="${f.filename}">${f.filename}</a></td>
        <td>${t(f.content_type.startsWith("image/") ? "attachments.photo" : "attachments.document")}</td>
        <td>${size(f.size_bytes)}</td><td>${f.uploaded_by || ""}</td><td>${fmtTime(f.uploaded_at)}</td>
        <td>${canChange() && html`<button type="button" class="attachment-delete" data-id="${f.id}">${t("attachments.delete")}</button>`}</td></tr>`)}</table>`);
  for (const b of el.querySelectorAll(".attachment-delete")) {
    b.addEventListener("click", async () => {
      if (!confirm(t("attachments.confirm_delete"))) return;
      await send("DELETE", `/site-attachments/${/** @type {HTMLElement} */ (b).dataset.id}`, null);
      await listAttachments();
    });
  }
}

async function upload() {
  if (!current) return;
  const msg = $("attachment-msg");
  const file = $("attachment-file").files?.[0];
  if (!file) { msg.className = "msg error"; msg.textContent = t("register.page.no_file"); return; }
  const q = new URLSearchParams({ filename: file.name, lang: getLang() });
  const r = await send("POST", `/sites/${current.id}/attachments?${q}`, file, { "content-type": "application/octet-stream" });
  if (r.status === 201) {
    msg.className = "msg ok";
    msg.textContent = t("attachments.uploaded", { name: r.body.filename });
    $("attachment-file").value = "";
    await listAttachments();
  } else {
    msg.className = "msg error";
    msg.textContent = (r.body && r.body.error) || String(r.status);
  }
}
