// @ts-check
// Device health: gateways, device warnings, silent sensors, and what the collector refused.

import { api, report } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { state } from "../lib/store.js";
import { ago, fmtTime, num, summaryOf, t } from "../lib/text.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const orDash = (/** @type {unknown} */ x, /** @type {(x: any) => string} */ f) => (x !== null && x !== undefined ? f(x) : "—");
const heads = (/** @type {string[]} */ keys) => html`<tr>${keys.map((k) => html`<th>${t(k)}</th>`)}</tr>`;

/** @param {(id: number) => void} openWarning */
export async function showHealth(openWarning) {
  const el = $("view-health");
  /** @type {import("../types").Health} */
  let h;
  try { h = await api("/health"); } catch (e) { report(e); return; }
  const on = h.gateways.filter((g) => g.online).length;
  const deviceWarnings = [...state.warnings.values()].filter((w) => w.category === "device" && w.state !== "closed");
  render(el, html`<h2>${t("health.title")}</h2>
    <h3>${t("health.gateways")} · ${t("health.summary", { on, all: h.gateways.length })}</h3>
    <table class="grid" id="health-gateways">${heads(["gw.code", "gw.site", "gw.state", "gw.last_seen", "gw.battery", "gw.supply", "gw.signal", "gw.queue", "gw.firmware"])}${
      h.gateways.map((g) => html`<tr class="${g.online ? "online" : "offline"}" data-gateway="${g.code}"><td>${g.code}</td><td>${g.site_name}</td><td>${t(g.online ? "gw.online" : "gw.offline")}</td><td>${ago(g.last_seen_at)}</td><td>${
        orDash(g.battery_pct, (x) => num(x, 0) + " %")}</td><td>${orDash(g.supply_v, (x) => num(x, 2) + " V")}</td><td>${orDash(g.signal_dbm, (x) => num(x, 0) + " dBm")}</td><td>${
        orDash(g.queue_depth, String)}</td><td>${g.firmware_version || "—"}</td></tr>`)}</table>
    <h3>${t("health.device_warnings")}</h3>
    ${deviceWarnings.length ? deviceWarnings.map((w) => html`<div class="feed-item lvl-${w.level}" data-warning="${w.id}"><span class="chip lvl-${w.level}">${t("level." + w.level)}</span> ${w.siteName} · ${summaryOf(w)}</div>`) : html`<p>${t("feed.empty")}</p>`}
    <h3>${t("health.silent")}</h3>
    ${h.silent_sensors.length ? html`<table class="grid" id="health-silent">${heads(["gw.site", "gw.code", "site.sensors", "health.interval", "health.last_reading"])}${
      h.silent_sensors.map((s) => html`<tr><td>${s.site_code}</td><td>${s.gateway}</td><td>${t("sensor.kind." + s.kind)} · ${s.channel}</td><td>${s.sampling_interval_s} s</td><td>${ago(s.last_reading_at)}</td></tr>`)}</table>`
      : html`<p>${t("health.silent_none")}</p>`}
    <h3>${t("health.quarantine")}</h3>
    ${h.quarantine.length ? html`<table class="grid" id="health-quarantine">${heads(["gw.code", "health.reason", "health.count", "health.last", "health.detail"])}${
      h.quarantine.map((q) => html`<tr data-gateway="${q.gateway_code || ""}"><td>${q.gateway_code || t("health.unknown_gw")}</td><td title="${q.reason}">${t("reason." + q.reason)}</td><td>${q.messages}</td><td>${fmtTime(q.last_at)}</td><td>${q.detail}</td></tr>`)}</table>`
      : html`<p>${t("health.quarantine_none")}</p>`}`);
  for (const d of /** @type {NodeListOf<HTMLElement>} */ (el.querySelectorAll("[data-warning]"))) d.addEventListener("click", () => openWarning(Number(d.dataset.warning)));
}
