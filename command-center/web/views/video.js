// @ts-check
// The latest frame of each camera of the site; a live view streams frames over a WebSocket of
// its own until stopped, the panel closes, or the center's time limit ends it. The session
// cookie goes with the image and socket requests: no URL carries a token.

import { api, report } from "../lib/api.js";
import { watchLive } from "../lib/live-view.js";
import { html, render } from "../lib/html.js";
import { fmtTime, t } from "../lib/text.js";
import { panel } from "./panel.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

export const video = {
  /** @type {{ws: WebSocket, el: HTMLElement} | null} */
  live: null,

  /** @param {{id: number}} site */
  async showSite(site) {
    /** @type {import("../types").Camera[]} */
    let cams = [];
    try { cams = await api("/sites/" + site.id + "/cameras"); } catch (e) { report(e); return; }
    if (panel.site !== site.id) return;
    const box = $("frames");
    if (!cams.length) { box.textContent = t("site.no_frames"); return; }
    render(box, html`${cams.map((c) => html`<div class="frame" data-camera="${c.gateway + "/" + c.camera}" data-gateway="${c.gateway}" data-name="${c.camera}">
      <img alt="" src="/api/v1/frames/${Number(c.latest_id)}">
      <div class="cap"><span class="when">${c.gateway} / ${c.camera} · ${fmtTime(c.captured_at)}</span><button type="button" class="live">${t("video.live")}</button></div></div>`)}`);
    for (const el of /** @type {NodeListOf<HTMLElement>} */ (box.querySelectorAll(".frame"))) {
      /** @type {HTMLElement} */ (el.querySelector(".live")).addEventListener("click", () => (this.live && this.live.el === el ? this.stopLive() : this.startLive(el)));
    }
    panel.endings.push(() => this.stopLive());
  },

  /** @param {HTMLElement} el */
  startLive(el) {
    this.stopLive();
    const img = /** @type {HTMLImageElement} */ (el.querySelector("img"));
    const button = /** @type {HTMLElement} */ (el.querySelector(".live"));
    const cap = /** @type {HTMLElement} */ (el.querySelector(".when"));
    el.dataset.liveFrames = "0";
    button.textContent = t("video.stop");
    cap.textContent = t("video.live_on");
    const path = "/cameras/" + encodeURIComponent(el.dataset.gateway || "") + "/" + encodeURIComponent(el.dataset.name || "") + "/live";
    const view = watchLive(path, img, (frames) => { el.dataset.liveFrames = String(frames); }, () => {
      if (this.live && this.live.ws === view.ws) {
        this.live = null;
        button.textContent = t("video.live");
        cap.textContent = t("video.live_ended");
      }
    });
    this.live = { ws: view.ws, el };
  },

  stopLive() {
    if (!this.live) return;
    const { ws, el } = this.live;
    this.live = null;
    ws.close();
    const b = el.querySelector(".live");
    if (b) b.textContent = t("video.live");
  },
};
