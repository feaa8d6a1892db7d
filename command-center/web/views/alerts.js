// @ts-check
// Notices the center sends an officer over the live link: shown at once until confirmed. The
// receipt goes back as soon as one arrives; the confirmation when the officer presses confirm.

import { html, render } from "../lib/html.js";
import { fmtTime, getLang } from "../lib/text.js";
import { t } from "../lib/text.js";

/** @typedef {import("../types").Notification} Notification */

export const alerts = {
  /** @type {Map<number, Notification>} */
  shown: new Map(),

  /**
   * @param {Notification} n
   * @param {(id: number) => void} confirm
   */
  show(n, confirm) {
    this.shown.set(n.id, n);
    const box = /** @type {HTMLElement} */ (document.getElementById("alerts"));
    const item = document.createElement("div");
    item.className = "notice lvl-" + (n.level || "none");
    item.dataset.notification = String(n.id);
    const text = getLang() === "zh-CN" ? n.text_zh || n.text_en : n.text_en || n.text_zh;
    render(item, html`<div class="head">${n.level && html`<span class="chip lvl-${n.level}">${t("level." + n.level)}</span> `}<b>${t("alert.title")}</b> · ${fmtTime(n.created_at)}</div>
      <div class="text">${text}</div><button type="button" class="confirm">${t("alert.confirm")}</button>`);
    /** @type {HTMLButtonElement} */ (item.querySelector(".confirm")).addEventListener("click", (ev) => {
      const b = /** @type {HTMLButtonElement} */ (ev.currentTarget);
      b.disabled = true;
      b.textContent = t("alert.confirmed");
      confirm(n.id);
      this.shown.delete(n.id);
      item.remove();
    });
    box.prepend(item);
  },

  clear() {
    this.shown.clear();
    const box = document.getElementById("alerts");
    if (box) box.textContent = "";
  },
};
