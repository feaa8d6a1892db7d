// @ts-check
// A site's sensors in the register (issue 24), under the site editor: listed with their kind,
// unit, expected interval, position, gateway and point; added and edited by admins in a form
// whose refused fields are each marked next to the field with the server's reason, in the
// console's language.

import { report, session } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { state } from "../lib/store.js";
import { getLang, t } from "../lib/text.js";

const KINDS = ["crack_meter", "rain_gauge", "gnss", "inclinometer", "piezometer", "soil_moisture", "mud_level", "water_level", "supply_voltage", "other"];
/** The form's fields, in order; numbers are sent as numbers (blank: none). */
const NUMBERS = ["sampling_interval_s", "longitude", "latitude", "elevation_m", "depth_m"];

const $ = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/** @param {string} method @param {string} path @param {any} [body] */
async function send(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { "content-type": "application/json", "accept-language": getLang() };
  if (session.csrf) headers["x-csrf-token"] = session.csrf;
  const r = await fetch("/api/v1" + path, { method, headers, body: body === undefined ? null : JSON.stringify(body), credentials: "same-origin" });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** The sensor being edited (none: a new one). @type {number | null} */
let editing = null;

/** One field of the form with the place its refusal is shown. @param {string} field @param {any} control */
const field = (field, control) => html`<label class="sensor-field">${t("register.field." + field)}${control}<span class="field-error" id="sensor-err-${field}"></span></label>`;

/** @param {number | null | undefined} v */
const shown = (v) => (v === null || v === undefined ? "" : String(v));

/**
 * Lists site `siteId`'s sensors in `el`, with the form for admins.
 * @param {HTMLElement} el @param {number} siteId
 */
export async function showSiteSensors(el, siteId) {
  editing = null;
  /** @type {any[]} */ let sensors = [];
  /** @type {any[]} */ let gateways = [];
  try {
    [sensors, gateways] = await Promise.all([
      send("GET", `/register/sensors?site=${siteId}`).then((r) => (r.status === 200 ? r.body : [])),
      send("GET", "/register/gateways").then((r) => (r.status === 200 ? r.body : [])),
    ]);
  } catch (e) { report(e); }
  const admin = state.officer?.role === "admin";
  render(el, html`<h4>${t("sensors.title", { n: sensors.length })}</h4>
    ${sensors.length === 0 ? html`<p class="hint" id="sensors-none">${t("sensors.none")}</p>`
    : html`<table class="grid" id="site-sensors-list"><tr>${["kind", "unit", "sampling_interval_s", "gateway_code", "channel", "longitude", "latitude", "elevation_m", "depth_m", "active"].map((k) => html`<th>${t("register.field." + k)}</th>`)}<th></th></tr>${
      sensors.map((s) => html`<tr data-sensor="${s.id}"><td>${t("sensor.kind." + s.kind)}</td><td>${s.unit}</td><td>${s.sampling_interval_s}</td><td>${s.gateway_code}</td><td>${s.channel}</td>
        <td>${shown(s.longitude)}</td><td>${shown(s.latitude)}</td><td>${shown(s.elevation_m)}</td><td>${shown(s.depth_m)}</td><td>${t(s.active ? "sensors.active" : "sensors.inactive")}</td>
        <td>${admin && html`<button type="button" class="sensor-edit" data-id="${s.id}">${t("sensors.edit")}</button>`}</td></tr>`)}</table>`}
    ${admin && html`<form id="sensor-form" class="register-form">
      <h5 id="sensor-form-title">${t("sensors.add_title")}</h5>
      ${field("kind", html`<select id="sensor-kind">${KINDS.map((k) => html`<option value="${k}">${t("sensor.kind." + k)}</option>`)}</select>`)}
      ${field("unit", html`<input id="sensor-unit" value="mm">`)}
      ${field("sampling_interval_s", html`<input id="sensor-sampling_interval_s" type="number" step="1" value="600">`)}
      ${field("gateway_code", html`<select id="sensor-gateway_code"><option value="">${t("sensors.pick_gateway")}</option>${gateways.map((g) => html`<option value="${g.code}">${g.code}${g.name ? " · " + g.name : ""}</option>`)}</select>`)}
      ${field("channel", html`<input id="sensor-channel">`)}
      ${field("longitude", html`<input id="sensor-longitude" type="number" step="any">`)}
      ${field("latitude", html`<input id="sensor-latitude" type="number" step="any">`)}
      ${field("elevation_m", html`<input id="sensor-elevation_m" type="number" step="any">`)}
      ${field("depth_m", html`<input id="sensor-depth_m" type="number" step="any">`)}
      <label class="sensor-field"><input id="sensor-active" type="checkbox" checked>${t("register.field.active")}</label>
      <button type="submit" id="sensor-save">${t("sensors.save")}</button>
      <button type="button" id="sensor-new">${t("sensors.new")}</button>
      <p id="sensor-msg" class="msg" role="status"></p>
    </form>`}`);
  if (!admin) return;
  for (const b of el.querySelectorAll(".sensor-edit")) {
    b.addEventListener("click", () => {
      const s = sensors.find((x) => String(x.id) === /** @type {HTMLElement} */ (b).dataset.id);
      if (s) fill(s);
    });
  }
  $("sensor-new").addEventListener("click", () => fill(null));
  $("sensor-form").addEventListener("submit", (e) => {
    e.preventDefault();
    save(el, siteId).catch(report);
  });
}

/** Fills the form with sensor `s` to edit it, or empties it for a new one. @param {any} s */
function fill(s) {
  editing = s ? s.id : null;
  $("sensor-form-title").textContent = s ? t("sensors.edit_title", { channel: `${s.gateway_code}/${s.channel}` }) : t("sensors.add_title");
  $("sensor-kind").value = s ? s.kind : "crack_meter";
  $("sensor-unit").value = s ? s.unit : "mm";
  $("sensor-gateway_code").value = s ? s.gateway_code : "";
  $("sensor-channel").value = s ? s.channel : "";
  for (const f of NUMBERS) $("sensor-" + f).value = s ? shown(s[f]) : f === "sampling_interval_s" ? "600" : "";
  $("sensor-active").checked = s ? s.active : true;
  clearErrors();
  $("sensor-msg").textContent = "";
}

function clearErrors() {
  for (const e of document.querySelectorAll("#sensor-form .field-error")) e.textContent = "";
  for (const e of document.querySelectorAll("#sensor-form .invalid")) e.classList.remove("invalid");
}

/** @param {HTMLElement} el @param {number} siteId */
async function save(el, siteId) {
  clearErrors();
  /** @type {Record<string, any>} */
  const input = {
    site_id: siteId,
    kind: $("sensor-kind").value,
    unit: $("sensor-unit").value,
    gateway_code: $("sensor-gateway_code").value,
    channel: $("sensor-channel").value,
    active: $("sensor-active").checked,
  };
  for (const f of NUMBERS) {
    const v = $("sensor-" + f).value.trim();
    input[f] = v === "" ? null : Number(v);
  }
  const r = editing === null ? await send("POST", "/register/sensors", input) : await send("PUT", `/register/sensors/${editing}`, input);
  const msg = $("sensor-msg");
  if (r.status === 200 || r.status === 201) {
    const saved = r.body;
    await showSiteSensors(el, siteId);
    const after = $("sensor-msg");
    after.className = "msg ok";
    after.textContent = t(r.status === 201 ? "sensors.added" : "sensors.saved", { channel: `${saved.gateway_code}/${saved.channel}` });
    return;
  }
  msg.className = "msg error";
  if (r.status === 422 && r.body && Array.isArray(r.body.problems)) {
    for (const p of r.body.problems) {
      const at = document.getElementById("sensor-err-" + p.field);
      if (at) {
        at.textContent = p.message;
        document.getElementById("sensor-" + p.field)?.classList.add("invalid");
      }
    }
    msg.textContent = t("sensors.refused");
  } else {
    msg.textContent = (r.body && r.body.error) || String(r.status);
  }
}
