// @ts-check
// A warning's evidence for a person: which method, the numbers that fired and the lines they
// crossed. Every method the analyzer writes has its own rendering; pure, so `node --test`
// checks each.

import { html } from "../lib/html.js";
import { LEVELS } from "../lib/model.js";
import { fmtTime, hours, num, t } from "../lib/text.js";

/** @typedef {import("../lib/html.js").Html} Html */
/** @typedef {import("../types").Level} Level */

/**
 * Key–value rows; falsy rows are left out.
 * @param {Array<[string, import("../lib/html.js").Value] | null | false | undefined>} rows
 */
export const kv = (rows) => html`<dl class="kv">${rows.filter((r) => !!r).map((r) => {
  const [k, v] = /** @type {[string, import("../lib/html.js").Value]} */ (r);
  return html`<dt>${t(k)}</dt><dd>${v}</dd>`;
})}</dl>`;

/**
 * @param {Partial<Record<Level, number | null>> | undefined} levels
 * @param {Level | null} hit the level the warning is at
 * @param {string} unit
 */
export function thresholdsTable(levels, hit, unit) {
  const cells = LEVELS.filter((l) => levels && levels[l] !== undefined && levels[l] !== null);
  if (!cells.length || !levels) return html``;
  return html`<table class="grid"><tr>${cells.map((l) => html`<th><span class="chip lvl-${l}">${t("level." + l)}</span></th>`)}</tr><tr>${
    cells.map((l) => html`<td class="${l === hit ? "hit" : ""}">${num(levels[l], 3)} ${unit || ""}</td>`)}</tr></table>`;
}

const present = (/** @type {unknown} */ x) => x !== null && x !== undefined;
const duration = (/** @type {number} */ s) => (s < 3600 ? t("ev.minutes", { n: num(s / 60, 0) }) : hours(s / 3600));
const levelChip = (/** @type {Level | null | undefined} */ l) => html`<span class="chip lvl-${l || "none"}">${t("level." + (l || "none"))}</span>`;

/**
 * @param {{level: Level}} w the warning
 * @param {any} ev its evidence
 * @returns {Html}
 */
export function renderEvidence(w, ev) {
  if (!ev || typeof ev !== "object") return html``;
  switch (ev.method) {
    case "threshold":
      return html`${kv([["ev.value", html`<b class="ev-value">${num(ev.value, 3)} ${ev.unit}</b> (${t("ev.direction." + (ev.direction || "above"))})`],
        ev.hysteresis ? ["ev.hysteresis", num(ev.hysteresis, 3)] : null])}<h4>${t("ev.thresholds")}</h4>${thresholdsTable(ev.thresholds, w.level, ev.unit)}`;
    case "rate":
      return html`${kv([["ev.velocity", html`<b>${num(ev.velocity_mm_per_day, 3)} mm/d</b>`],
        ["ev.velocity_t", html`${num(ev.velocity_t, 2)} (${t("ev.min_t")} ${num(ev.min_t, 1)})`],
        present(ev.acceleration_mm_per_day2) ? ["ev.acceleration", html`${num(ev.acceleration_mm_per_day2, 3)} mm/d²`] : null,
        present(ev.acceleration_t) ? ["ev.acceleration_t", num(ev.acceleration_t, 2)] : null,
        ["ev.fit_r2", num(ev.fit_r2, 3)], ["ev.points", ev.points], ["ev.window", hours(ev.window_h)],
        ev.spikes_rejected ? ["ev.spikes", ev.spikes_rejected] : null])}<h4>${t("ev.thresholds")}</h4>${thresholdsTable(ev.thresholds, w.level, "mm/d")}`;
    case "rainfall": {
      /** @type {Array<{hours: number, mm: number, level: Level | null, id_threshold_mm_per_h: number}>} */
      const wins = ev.windows || [];
      const max = Math.max(1, ...wins.map((x) => Math.max(x.mm || 0, (x.id_threshold_mm_per_h || 0) * x.hours)));
      const bars = wins.map((x) => {
        const line = (x.id_threshold_mm_per_h || 0) * x.hours;
        return html`<div class="bar-row"><span>${hours(x.hours)}</span><div class="bar-track"><div class="bar-fill lvl-${x.level || "none"}" style="width:${(100 * (x.mm || 0) / max).toFixed(1)}%"></div>${
          line ? html`<div class="bar-line" title="${t("ev.id_line")}" style="left:${Math.min(99.5, 100 * line / max).toFixed(1)}%"></div>` : ""}</div><span>${num(x.mm, 1)} mm${line ? " / " + num(line, 1) : ""}</span></div>`;
      });
      return html`<h4>${t("ev.rain_window")} (${t("ev.id_line")}: │)</h4><div class="bars">${bars}</div>${
        kv([["ev.id_ratio", num(ev.id_ratio_max, 2) + "×"], ev.antecedent ? ["ev.effective", num(ev.antecedent.effective_mm, 1) + " mm"] : null])}`;
    }
    case "improved_tangent_angle": {
      const iv = ev.inverse_velocity || {};
      return html`${kv([["ev.alpha", html`<b>${num(ev.alpha_deg, 1)}°</b>`],
        ["ev.velocity", num(ev.velocity_mm_per_day, 3) + " mm/d"],
        ["ev.steady", num(ev.steady_velocity_mm_per_day, 3) + " mm/d"],
        ["ev.window", hours(ev.window_h)],
        iv.method ? ["ev.inverse", t("ev.inverse_fit", { s: num(iv.slope_per_day, 4), r: num(iv.r2, 3) })] : null,
        iv.method ? ["ev.failure", iv.accepted ? html`<b class="ev-failure">${fmtTime(iv.failure_forecast_ts)}</b>` : t("ev.not_accepted")] : null])}${
        iv.method && html`<h4>${t("ev.inverse")}</h4><div id="inverse-plot" class="chart"></div>`}<h4>${t("ev.thresholds")}</h4>${thresholdsTable(ev.thresholds_deg, w.level, "°")}`;
    }
    case "gateway_status": {
      const s = ev.status || {};
      /** @type {Array<{channel: string, device: string, slave: number, error: string, since: number}>} */
      const faults = s.faults || [];
      return html`${kv([["ev.gw.link", t(s.online ? "gw.online" : "gw.offline")],
        ["gw.battery", present(s.battery_pct) ? html`<b>${num(s.battery_pct, 0)} %</b> (${t("ev.gw.min_battery")} ${num(ev.min_battery_pct, 0)} %)` : t("common.none")],
        ["gw.supply", present(s.supply_v) ? html`<b>${num(s.supply_v, 2)} V</b> (${t("ev.gw.min_supply")} ${num(ev.min_supply_v, 2)} V)` : t("common.none")],
        present(s.signal_dbm) ? ["gw.signal", num(s.signal_dbm, 0) + " dBm"] : null,
        present(s.queue_depth) ? ["gw.queue", s.queue_depth] : null,
        s.firmware ? ["gw.firmware", s.firmware] : null,
        faults.length ? ["ev.gw.faults", faults.map((f) => html`<div class="fault">${t("ev.gw.fault", { channel: f.channel, device: f.device, slave: f.slave, error: f.error, since: fmtTime(f.since) })}</div>`)] : null])}`;
    }
    case "silence":
      if (present(ev.ts) && !present(ev.silent_for_s)) return kv([["ev.silence.over", fmtTime(ev.ts)]]);
      return kv([ev.gateway ? ["ev.silence.gateway", ev.gateway] : null,
        ["ev.silence.for", html`<b>${duration(ev.silent_for_s)}</b>`], ["ev.silence.limit", duration(ev.limit_s)]]);
    case "stuck":
      return kv([["ev.stuck.value", num(ev.value, 3)], ["ev.stuck.samples", html`<b>${ev.identical_samples}</b>`],
        ["ev.stuck.limit", ev.limit], ["warning.reading", fmtTime(ev.ts)]]);
    case "combined":
      return kv([["ev.combined.rain", levelChip(ev.rain_level)], ["ev.combined.displacement", levelChip(ev.displacement_level)],
        ["ev.combined.raise_by", t("ev.combined.levels", { n: ev.raise_by })]]);
    case "suspect_reading":
      return kv([["ev.suspect.value", html`<b>${num(ev.value, 3)}</b>`], ["ev.suspect.neighbours", num(ev.neighbours_max, 3)],
        ["ev.suspect.ratio", num(ev.ratio_limit, 1) + "×"], ["ev.suspect.outcome", t(ev.refuted ? "ev.suspect.refuted" : "ev.suspect.held")],
        present(ev.ts) ? ["warning.reading", fmtTime(ev.ts)] : null]);
    default:
      // A method this console does not know yet: its fields as rows of text, nested objects as
      // nested rows, long values wrapped inside the panel.
      return html`<p class="msg">${t("ev.unknown", { m: ev.method || "?" })}</p>${fields(ev)}`;
  }
}

/** An object's fields as rows; nested objects as nested rows. @param {Record<string, unknown>} o @returns {Html} */
function fields(o) {
  return html`<dl class="kv raw">${Object.entries(o).filter(([k]) => k !== "method").map(([k, v]) =>
    html`<dt>${k}</dt><dd>${v && typeof v === "object" ? fields(/** @type {Record<string, unknown>} */ (v)) : String(v)}</dd>`)}</dl>`;
}
