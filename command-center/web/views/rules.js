// @ts-check
// The rules of a sensor, inside the register page (规则与回测): the parameters it ends up with and
// where each comes from (built in, its kind's rule, its site's, its own); a form to change one
// layer's row of a rule; and, before saving, a backtest over a period of stored readings that
// shows what the new parameters would have raised beside what the ones in force raised, by
// level, with times in the agency's zone. A save is made on the row's version: a change made
// meanwhile by someone else is refused and shown.

import { api, report, session } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { state } from "../lib/store.js";
import { fmtTime, getLang, num, t, zonedInstant, zonedTyped, zoneLabel } from "../lib/text.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

const LAYERS = ["sensor", "site", "kind"];
const LEVELS = ["blue", "yellow", "orange", "red"];

/** A parameter's dotted key (`persistence.readings`) in the console's language, part by part. @param {string} key */
const paramName = (key) => key.split(".").map((part) => t(LEVELS.includes(part) ? "level." + part : "rules.param." + part)).join(" · ");

/** What is shown, kept across redraws (a language switch). */
const shown = {
  /** @type {string} */ site: "",
  /** @type {string} */ sensor: "",
  /** @type {string} */ rule: "threshold",
  /** @type {string} */ layer: "sensor",
  /** @type {any} */ view: null,
  /** @type {any} */ backtest: null,
  /** @type {{ok: boolean, text: string} | null} */ msg: null,
  /** Typed in the form, kept over a redraw. @type {{params: string, from: string, to: string, enabled: boolean} | null} */ typed: null,
};

/** The element the section is drawn in. @type {HTMLElement | null} */
let host = null;

/** @param {string} method @param {string} path @param {any} body @param {string} [ifMatch] */
async function send(method, path, body, ifMatch) {
  /** @type {Record<string, string>} */
  const headers = { "content-type": "application/json", "accept-language": getLang() };
  if (session.csrf) headers["x-csrf-token"] = session.csrf;
  if (ifMatch !== undefined) headers["if-match"] = `"${ifMatch}"`;
  const r = await fetch("/api/v1" + path, { method, headers, body: JSON.stringify(body), credentials: "same-origin" });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** A value as shown in the parameter table. @param {any} v */
function shownValue(v) {
  if (v === null || v === undefined) return t("common.none");
  if (typeof v === "number") return num(v, 4);
  if (typeof v !== "string") return JSON.stringify(v);
  // A word of the rule's JSON (a direction, a level) in the console's language, the word beside it.
  const named = v === "above" || v === "below" ? t("rules.direction." + v) : LEVELS.includes(v) ? t("level." + v) : null;
  return named ? html`${named} <code class="param-key">${v}</code>` : v;
}

/** The row of the shown rule in `layer`, if it has one. @param {string} layer */
function rowOf(layer) {
  const rule = shown.view?.rules.find((/** @type {any} */ r) => r.rule === shown.rule);
  return rule?.rows.find((/** @type {any} */ r) => r.layer === layer) || null;
}

/** The backtest of one side: counts by level and its warnings. @param {any} side @param {string} id @param {string} title */
function side(side, id, title) {
  return html`<div class="rules-side" id="${id}">
    <h4>${title}</h4>
    <p class="rules-counts">${LEVELS.map((l) => html`<span class="chip lvl-${l}" data-level="${l}">${t("level." + l)} ${side.by_level[l]}</span> `)}</p>
    <p class="hint">${t("rules.backtest.readings", { n: side.readings })}</p>
    <table class="grid"><tr>${["rules.backtest.hazard", "rules.backtest.peak", "rules.backtest.raised", "rules.backtest.closed", "rules.backtest.why"].map((k) => html`<th>${t(k)}</th>`)}</tr>${
      side.warnings.map((/** @type {any} */ w) => html`<tr data-peak="${w.peak}"><td>${t("rules.hazard." + w.hazard)}</td><td><span class="chip lvl-${w.peak}">${t("level." + w.peak)}</span></td><td>${fmtTime(w.raised_at)}</td><td>${w.closed_at ? fmtTime(w.closed_at) : t("rules.backtest.still_open")}</td><td>${getLang() === "en" ? w.steps[0].summary_en : w.steps[0].summary_zh}</td></tr>`)}</table>
  </div>`;
}

/** Draws the section in `el`: site and sensor pickers, the parameters, the form, the backtest. @param {HTMLElement} el */
export async function showRules(el) {
  host = el;
  /** @type {any[]} */ let sites = [];
  /** @type {any[]} */ let sensors = [];
  try {
    sites = await api("/sites");
    if (!shown.site && sites.length) shown.site = String(sites[0].id);
    if (shown.site) sensors = (await api(`/sites/${shown.site}`)).sensors || [];
    if (!sensors.some((s) => String(s.id) === shown.sensor)) { shown.sensor = sensors.length ? String(sensors[0].id) : ""; shown.view = null; shown.backtest = null; }
    if (shown.sensor && !shown.view) shown.view = await api(`/register/sensors/${shown.sensor}/rules`);
  } catch (e) { report(e); }
  const admin = state.officer?.role === "admin";
  const view = shown.view;
  const rule = view?.rules.find((/** @type {any} */ r) => r.rule === shown.rule);
  const row = rowOf(shown.layer);
  const now = Date.now();
  const typed = shown.typed || {
    params: JSON.stringify(row ? row.params : {}, null, 2),
    from: zonedTyped(now - 7 * 86400000), to: zonedTyped(now), enabled: row ? row.enabled : true,
  };
  render(el, html`<h3>${t("rules.title")}</h3>
    <p class="hint">${t("rules.hint")}</p>
    <label>${t("rules.site")}<select id="rules-site">${sites.map((s) => html`<option value="${s.id}" ${String(s.id) === shown.site ? "selected" : ""}>${s.name} (${s.code})</option>`)}</select></label>
    <label>${t("rules.sensor")}<select id="rules-sensor">${sensors.map((s) => html`<option value="${s.id}" ${String(s.id) === shown.sensor ? "selected" : ""}>${s.gateway}/${s.channel} · ${t("sensor.kind." + s.kind)}</option>`)}</select></label>
    <label>${t("rules.rule")}<select id="rules-rule">${(view?.rules || []).map((/** @type {any} */ r) => html`<option value="${r.rule}" ${r.rule === shown.rule ? "selected" : ""}>${t("rules.rule." + r.rule)}${r.applies ? "" : " · " + t("rules.off")}</option>`)}</select></label>
    ${rule && html`<div class="rules-panes">
      <div class="rules-merged">
        <h4>${t("rules.merged", { sensor: view.sensor.label })}</h4>
        ${!rule.applies && html`<p class="msg">${t("rules.not_applied")}</p>`}
        <table class="grid" id="rules-params"><tr>${["rules.param", "rules.value", "rules.from"].map((k) => html`<th>${t(k)}</th>`)}</tr>${
          rule.params.map((/** @type {any} */ p) => html`<tr data-key="${p.key}" data-from="${p.from}"><td>${paramName(p.key)} <code class="param-key">${p.key}</code></td><td>${shownValue(p.value)}</td><td class="from-${p.from}">${t("rules.from." + p.from)}</td></tr>`)}</table>
      </div>
      <form id="rules-form" class="register-form rules-form">
        <h4>${t("rules.edit")}</h4>
        <label>${t("rules.layer")}<select id="rules-layer">${LAYERS.map((l) => html`<option value="${l}" ${l === shown.layer ? "selected" : ""}>${t("rules.from." + l)}</option>`)}</select></label>
        <p class="hint" id="rules-version">${row ? t("rules.version", { v: row.version }) : t("rules.no_row")}</p>
        <label>${t("rules.params")}<textarea id="rules-json" rows="8" cols="48" spellcheck="false">${typed.params}</textarea></label>
        <label><input type="checkbox" id="rules-enabled" ${typed.enabled ? "checked" : ""}> ${t("rules.enabled")}</label>
        <label>${t("rules.from_time")}（${zoneLabel()}）<input id="rules-from" value="${typed.from}"></label>
        <label>${t("rules.to_time")}（${zoneLabel()}）<input id="rules-to" value="${typed.to}"></label>
        <button type="button" id="rules-backtest">${t("rules.backtest")}</button>
        ${admin && html`<button type="submit" id="rules-save">${t("rules.save")}</button>`}
        <p id="rules-msg" class="${shown.msg ? "msg " + (shown.msg.ok ? "ok" : "error") : "msg"}" role="status">${shown.msg ? shown.msg.text : ""}</p>
      </form>
    </div>`}
    ${shown.backtest && html`<section class="rules-backtest" id="rules-backtest-result">
      <h4>${t("rules.backtest.title", { from: fmtTime(shown.backtest.from), to: fmtTime(shown.backtest.to) })}</h4>
      <div class="rules-panes">
        ${side(shown.backtest.old, "rules-old", t("rules.backtest.old"))}
        ${side(shown.backtest.new, "rules-new", t("rules.backtest.new"))}
      </div>
    </section>`}`);
  $("rules-site")?.addEventListener("change", () => { shown.site = $("rules-site").value; shown.sensor = ""; reset(); });
  $("rules-sensor")?.addEventListener("change", () => { shown.sensor = $("rules-sensor").value; reset(); });
  $("rules-rule")?.addEventListener("change", () => { shown.rule = $("rules-rule").value; shown.typed = null; shown.backtest = null; shown.msg = null; redraw(); });
  $("rules-layer")?.addEventListener("change", () => { shown.layer = $("rules-layer").value; shown.typed = null; shown.msg = null; redraw(); });
  $("rules-backtest")?.addEventListener("click", () => backtest());
  $("rules-form")?.addEventListener("submit", (ev) => { ev.preventDefault(); save(); });
}

function reset() {
  shown.view = null; shown.backtest = null; shown.typed = null; shown.msg = null;
  redraw();
}

function redraw() {
  if (host) showRules(host);
}

/** What the form holds; `null` (and the reason shown) when the parameters are not JSON. */
function formInput() {
  shown.typed = { params: $("rules-json").value, from: $("rules-from").value, to: $("rules-to").value, enabled: $("rules-enabled").checked };
  try {
    return { layer: shown.layer, params: JSON.parse(shown.typed.params), enabled: shown.typed.enabled };
  } catch (e) {
    shown.msg = { ok: false, text: t("rules.not_json") };
    redraw();
    return null;
  }
}

async function backtest() {
  const input = formInput();
  if (!input || !shown.typed) return;
  const body = { ...input, from: zonedInstant(shown.typed.from), to: zonedInstant(shown.typed.to) };
  try {
    const r = await send("POST", `/register/sensors/${shown.sensor}/rules/${shown.rule}/backtest`, body);
    if (r.status === 200) { shown.backtest = r.body; shown.msg = null; } else shown.msg = { ok: false, text: (r.body && r.body.error) || String(r.status) };
    redraw();
  } catch (e) { report(e); }
}

async function save() {
  const input = formInput();
  if (!input) return;
  const row = rowOf(shown.layer);
  try {
    const r = await send("PUT", `/register/sensors/${shown.sensor}/rules/${shown.rule}`, input, String(row ? row.version : 0));
    if (r.status === 200) {
      shown.view = r.body; shown.typed = null;
      shown.msg = { ok: true, text: t("rules.saved", { v: rowOf(shown.layer)?.version ?? "" }) };
    } else if (r.status === 409) {
      shown.msg = { ok: false, text: t("rules.conflict", { v: r.body.current.version }) };
      shown.view = null;
    } else shown.msg = { ok: false, text: (r.body && r.body.error) || String(r.status) };
    redraw();
  } catch (e) { report(e); }
}
