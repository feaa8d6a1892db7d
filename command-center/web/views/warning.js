// @ts-check
// One warning: its level, state, source, evidence and timeline; a duty officer acknowledges it
// here with a note, and may publish it to the public (site-release.js).

import { api, report, SessionEnded } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { fromRest, LEVELS } from "../lib/model.js";
import { changed, state } from "../lib/store.js";
import { fmtTime, sourceText, summaryOf, t } from "../lib/text.js";
import { inversePlot } from "./charts.js";
import { kv, renderEvidence } from "./evidence.js";
import { openFromWarning } from "./incidents.js";
import { closePanel, openPanel, panel } from "./panel.js";
import { openSite } from "./site.js";
import { showRelease } from "./site-release.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @param {import("../types").WarningEvent[]} events */
function timeline(events) {
  return html`<ol class="timeline">${(events || []).map((e) => html`<li><b>${t("transition." + e.transition)}</b>${
    e.to_level && html` <span class="chip lvl-${e.to_level}">${t("level." + e.to_level)}</span>`} · ${e.actor === "person" ? e.person || "" : t("actor.analyzer")} · ${fmtTime(e.at)}${
    e.evidence && e.evidence.note && html`<div class="note">${e.evidence.note}</div>`}</li>`)}</ol>`;
}

/**
 * Who was told of the warning, by which channel, and how far each message got, as the store
 * has it: queued, sent, delivered, confirmed or failed (with the provider's reason).
 * @param {import("../types").WarningDelivery[]} list
 */
export function deliveries(list) {
  if (!list.length) return html`<p class="msg" id="deliveries">${t("delivery.none")}</p>`;
  const failed = list.filter((d) => d.status === "failed").length;
  const reason = (/** @type {string} */ r) => {
    const [level, step] = r.split("@");
    return html`${LEVELS.includes(/** @type {import("../types").Level} */ (level)) ? html`<span class="chip lvl-${level}">${t("level." + level)}</span>` : ""} ${
      Number(step) > 0 ? t("delivery.referral", { n: step }) : t("delivery.responsible")}`;
  };
  const status = (/** @type {import("../types").WarningDelivery} */ d) => {
    const key = d.confirmed_at ? "confirmed" : d.status;
    const when = d.confirmed_at || d.delivered_at || d.sent_at;
    return html`<span class="dl dl-${key}">${t("delivery.status." + key)}</span>${when ? " · " + fmtTime(when) : ""}${
      d.status === "failed" && d.last_error ? html`<div class="dl-error">${d.last_error}</div>` : ""}`;
  };
  return html`${failed > 0 && html`<p class="msg">${t("delivery.failed_count", { n: failed })}</p>`}<table class="grid" id="deliveries"><tr>${
    ["delivery.person", "delivery.channel", "delivery.reason", "delivery.status", "delivery.attempts"].map((k) => html`<th>${t(k)}</th>`)}</tr>${
    list.map((d) => html`<tr data-delivery="${d.status}" data-channel="${d.channel}"><td>${d.person}</td><td>${t("delivery.channel." + d.channel)}</td><td>${reason(d.reason)}</td><td>${status(d)}</td><td>${d.attempts}</td></tr>`)}</table>`;
}

/** @param {number} id */
/**
 * Reads warning `id` again and shows its deliveries as the store now holds them, if its panel
 * is still open (the rest of the panel, a note being typed, and the scroll stay as they are).
 * @param {number} id
 */
export async function refreshDeliveries(id) {
  /** @type {import("../types").WarningDetail} */
  let w;
  try { w = await api("/warnings/" + id); } catch (e) { report(e); return; }
  const box = document.getElementById("deliveries-box");
  if (panel.warning !== id || !box) return;
  render(box, deliveries(w.deliveries || []));
}

/** @param {number} id */
export async function openWarning(id) {
  /** @type {import("../types").WarningDetail} */
  let w;
  try { w = await api("/warnings/" + id); } catch (e) { report(e); return; }
  const mayAck = state.officer && state.officer.role !== "viewer";
  openPanel(html`<h2><span class="chip lvl-${w.level}">${t("levelname." + w.level)}</span> ${w.site.name}</h2>
    <p class="summary">${summaryOf(w)}</p>
    ${kv([["warning.state", html`<span class="chip state-${w.state}" id="warning-state">${t("state." + w.state)}</span>`],
      ["warning.source", html`${t("category." + w.category)} · ${sourceText(w.source)}`],
      ["warning.peak", t("level." + w.peak_level)],
      ["warning.raised", fmtTime(w.raised_at)], ["warning.updated", fmtTime(w.updated_at)],
      w.reading_ts ? ["warning.reading", fmtTime(w.reading_ts)] : null,
      ["warning.crossings", w.crossings],
      w.failure_forecast_at ? ["warning.forecast", html`<b>${fmtTime(w.failure_forecast_at)}</b>`] : null,
      w.acknowledged_by ? ["warning.acked_by", w.acknowledged_by + " · " + fmtTime(w.acknowledged_at)] : null])}
    ${w.state === "open" && (mayAck
      ? html`<div class="ack-box"><label for="ack-note">${t("warning.note")}</label><textarea id="ack-note" placeholder="${t("warning.note_ph")}"></textarea><button type="button" id="ack-button">${t("warning.ack")}</button><p id="ack-msg" class="msg"></p></div>`
      : html`<p class="msg">${t("warning.ack_forbidden")}</p>`)}
    <h3>${t("warning.evidence")}</h3><div id="evidence" data-method="${(w.evidence && w.evidence.method) || ""}">${renderEvidence(w, w.evidence)}</div>
    <h3>${t("warning.timeline")}</h3>${timeline(w.events)}
    <h3>${t("delivery.title")}</h3><div id="deliveries-box">${deliveries(w.deliveries || [])}</div>
    ${w.category === "hazard" && html`<h3>${t("forecast.site.title")}</h3><div id="release-box"></div>`}
    <p><button type="button" id="open-site">${t("warning.open_site")}</button>
      ${state.officer && ["duty_officer", "admin"].includes(state.officer.role) && html` <button type="button" id="open-incident">${t("incidents.open_from_warning")}</button>`}</p>`);
  panel.warning = id;
  const plot = document.getElementById("inverse-plot");
  if (plot) panel.charts.push(inversePlot(plot, w.evidence));
  const releaseBox = document.getElementById("release-box");
  if (releaseBox) showRelease(releaseBox, id, w);
  $("open-site").addEventListener("click", () => openSite(w.site.id));
  document.getElementById("open-incident")?.addEventListener("click", () => { closePanel(); openFromWarning(id).catch(report); });
  const ack = /** @type {HTMLButtonElement | null} */ (document.getElementById("ack-button"));
  if (ack) ack.addEventListener("click", async () => {
    ack.disabled = true;
    try {
      const note = /** @type {HTMLTextAreaElement} */ ($("ack-note")).value;
      const after = await api("/warnings/" + id + "/acknowledge", { method: "POST", body: JSON.stringify({ note }) });
      state.warnings.set(after.id, fromRest(after));
      state.dirtySites.add(after.site.code);
      changed("warnings");
      openWarning(id);
    } catch (e) {
      if (e instanceof SessionEnded) return;
      ack.disabled = false;
      $("ack-msg").textContent = t("warning.ack_failed", { e: e instanceof Error ? e.message : String(e) });
    }
  });
}
