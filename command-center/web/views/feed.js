// @ts-check
// The live warning feed, the banner of urgent warnings with its alarm, the filters, and the
// officer's line in the header.

import { html, render } from "../lib/html.js";
import { KINDS, LEVELS, rank, urgent, warningVisible } from "../lib/model.js";
import { changed, state } from "../lib/store.js";
import { fmtTime, summaryOf, t } from "../lib/text.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

export function renderFeed() {
  const list = [...state.warnings.values()].filter((w) => warningVisible(state, w)).sort((a, b) => b.updated - a.updated || b.id - a.id);
  const ol = $("feed-list");
  if (!list.length) {
    render(ol, html`<li class="feed-item">${t("feed.empty")}</li>`);
    return;
  }
  render(ol, html`${list.slice(0, 300).map((w) => html`<li class="feed-item lvl-${w.level} state-${w.state}" data-warning="${w.id}" data-level="${w.level}" data-state="${w.state}">
    <div class="head"><span class="chip lvl-${w.level}">${t("level." + w.level)}</span><span class="site">${w.siteName}</span><span class="chip state-${w.state}">${t("state." + w.state)}</span></div>
    <div class="summary">${t("category." + w.category)} · ${summaryOf(w)}</div>
    <div class="when">${fmtTime(w.updated)}</div></li>`)}`);
}

export function renderBanner() {
  const open = [...state.warnings.values()].filter(urgent).sort((a, b) => rank(b.level) - rank(a.level) || b.updated - a.updated);
  const shown = open.slice(0, 3);
  render($("banner"), html`${shown.map((w) => html`<div class="alarm lvl-${w.level}" data-warning="${w.id}"><span class="what">${t("levelname." + w.level)} · ${w.siteName} · ${summaryOf(w)}</span><button type="button" data-open="${w.id}">${t("banner.ack")}</button></div>`)}${
    open.length > shown.length && html`<div class="alarm lvl-orange">${t("banner.more", { n: open.length - shown.length })}</div>`}`);
  alarm.set(open.length > 0);
}

/** A new orange or red sounds, and keeps sounding every 15 s until nothing is left unacknowledged. */
export const alarm = {
  /** @type {AudioContext | null} */ ctx: null,
  /** @type {ReturnType<typeof setInterval> | null} */ timer: null,
  beep() {
    try {
      this.ctx = this.ctx || new AudioContext();
      const o = this.ctx.createOscillator(), g = this.ctx.createGain();
      o.type = "square"; o.frequency.value = 880; g.gain.value = 0.08;
      o.connect(g); g.connect(this.ctx.destination);
      o.start(); o.stop(this.ctx.currentTime + 0.6);
    } catch (_) { /* no audio device */ }
  },
  /** @param {boolean} on */
  set(on) {
    if (on && !this.timer) this.timer = setInterval(() => this.beep(), 15000);
    if (!on) this.stop();
  },
  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  },
};

export function renderWho() {
  const o = state.officer;
  if (!o) return;
  const division = state.divisions.find((d) => d.code === o.division_code);
  $("who").textContent = o.display_name + " · " + t("role." + o.role) + " · " + (division ? division.name : o.division_code);
}

export function renderFilters() {
  const f = state.filters;
  const opt = (/** @type {string} */ v, /** @type {string} */ label, /** @type {string} */ cur) => html`<option value="${v}" ${v === cur && html`selected`}>${label}</option>`;
  render($("f-level"), html`${opt("", t("filter.all"), f.level)}${LEVELS.slice().reverse().map((l) => opt(l, t("level." + l), f.level))}${opt("none", t("filter.none"), f.level)}`);
  render($("f-kind"), html`${opt("", t("filter.all"), f.kind)}${KINDS.map((k) => opt(k, t("kind." + k), f.kind))}`);
  render($("f-division"), html`${opt("", t("filter.all"), f.division)}${state.divisions.map((d) => opt(d.code, d.name, f.division))}`);
}

/** @param {(id: number) => void} openWarning */
export function wireFeed(openWarning) {
  $("feed-list").addEventListener("click", (ev) => {
    const li = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (ev.target).closest("[data-warning]"));
    if (li) openWarning(Number(li.dataset.warning));
  });
  $("banner").addEventListener("click", (ev) => {
    const b = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (ev.target).closest("[data-open]"));
    if (b) openWarning(Number(b.dataset.open));
  });
  for (const [id, key] of /** @type {const} */ ([["f-level", "level"], ["f-kind", "kind"], ["f-division", "division"]])) {
    $(id).addEventListener("change", (ev) => {
      state.filters[key] = /** @type {HTMLSelectElement} */ (ev.target).value;
      changed("filters");
    });
  }
}
