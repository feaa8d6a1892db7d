// @ts-check
// A site warning in the public release (信息发布), in the warning's panel: whether it is
// published to the public feed and page, what the public reads (the headline and text of its
// CAP alert), its alerts (Alert, Update, Cancel); a duty officer publishes it with words for the
// public, or withdraws it with a reason. What is shown is what the server answers.

import { ApiFailure, api, report } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { state } from "../lib/store.js";
import { fmtTime, t } from "../lib/text.js";

/** @typedef {{id: number, warning_id: number, site_code: string, site_name: string, division_code: string, division_name: string, state: string, level: string, text_zh: string, published_at: string, ended_at: string | null, reason: string | null, headline_zh: string, description_zh: string, cap: [string, string, string][]}} Publication */

const mayPublish = () => !!state.officer && ["duty_officer", "admin"].includes(state.officer.role);

/**
 * @param {Publication | null} p @param {{state: string, category: string}} w
 * @param {string} problem
 */
function view(p, w, problem) {
  const live = p && p.state === "published";
  return html`<div id="site-release" data-state="${p ? p.state : "none"}">
    ${problem ? html`<p class="error" id="release-problem" data-key="${problem}">${t(problem)}</p>` : ""}
    ${p ? html`<p><span class="chip rstate-${p.state}">${t("forecast.site.state." + p.state)}</span>
        <span class="chip lvl-${p.level}">${t("level." + p.level)}</span>
        · ${t("forecast.site.published_at")} ${fmtTime(p.published_at)}${p.ended_at ? html` · ${t("forecast.site.ended_at")} ${fmtTime(p.ended_at)}` : ""}</p>
      <blockquote class="public-text" lang="zh-CN"><b>${p.headline_zh}</b><br>${p.description_zh}</blockquote>
      ${p.reason ? html`<p>${t("forecast.reason")}：${p.reason}</p>` : ""}
      <ul id="release-cap">${p.cap.map(([id, type, sent]) => html`<li><a href="/public/forecast/cap/${id}.xml" target="_blank" rel="noopener">${t("forecast.msg." + type)} · ${id}</a> · ${fmtTime(sent)}</li>`)}</ul>`
      : html`<p>${t("forecast.site.never")}</p>`}
    ${mayPublish() && live ? html`<p class="form-line"><label>${t("forecast.reason")} <input id="release-reason" size="30"></label>
        <button type="button" id="release-withdraw">${t("forecast.site.withdraw")}</button></p>` : ""}
    ${mayPublish() && !live && w.state !== "closed" && w.category === "hazard" ? html`<p class="form-line"><label for="release-text">${t("forecast.site.text")}</label>
        <textarea id="release-text" placeholder="${t("forecast.site.text_ph")}"></textarea>
        <button type="button" id="release-publish">${t("forecast.site.publish")}</button></p>` : ""}
    <p><a href="/public/forecast" target="_blank" rel="noopener">${t("forecast.public")}</a></p></div>`;
}

/**
 * Shows the release of warning `id` in `box`, with `problem` (a refusal's message key) above.
 * @param {HTMLElement} box @param {number} id @param {{state: string, category: string}} w
 * @param {string} [problem]
 */
export async function showRelease(box, id, w, problem = "") {
  /** @type {Publication | null} */
  let p;
  try { p = await api("/forecast/site-warnings/" + id); } catch (e) { report(e); return; }
  if (!box.isConnected) return;
  render(box, view(p, w, problem));
  /** @param {string} what @param {object} body */
  const act = async (what, body) => {
    let refused = "";
    try {
      await api("/forecast/site-warnings/" + id + "/" + what, { method: "POST", body: JSON.stringify(body) });
    } catch (e) {
      if (!(e instanceof ApiFailure)) { report(e); return; }
      refused = e.status === 403 ? "forecast.refused.forbidden" : e.status === 409 ? "forecast.site.refused.conflict" : e.status === 400 || e.status === 422 ? "forecast.site.refused.invalid" : "forecast.refused.failed";
      console.warn(what, e.message);
    }
    showRelease(box, id, w, refused);
    document.dispatchEvent(new CustomEvent("gh:release-shown", { detail: { id, what, refused } }));
  };
  const value = (/** @type {string} */ css) => /** @type {HTMLInputElement} */ (box.querySelector(css)).value;
  box.querySelector("#release-publish")?.addEventListener("click", () => act("publish", { text_zh: value("#release-text") }));
  box.querySelector("#release-withdraw")?.addEventListener("click", () => act("withdraw", { reason: value("#release-reason") }));
}
