// @ts-check
// The live warning feed, the banner of urgent warnings with its alarm, the filters, and the
// officer's line in the header.

import { html, render } from "../lib/html.js";
import { KINDS, LEVELS, rank, urgent, warningVisible } from "../lib/model.js";
import { changed, state } from "../lib/store.js";
import { fmtTime, sourceText, summaryOf, t } from "../lib/text.js";
import { placePanel } from "./panel.js";

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
    <div class="summary" title="${summaryOf(w)}"><span class="when">${fmtTime(w.updated)}</span> · ${sourceText(w.source)} · ${summaryOf(w)}</div></li>`)}`);
}

/** Whether the list of the other urgent warnings is unfolded under the banner. */
let moreOpen = false;

/**
 * One line of the banner: the most urgent unacknowledged warning (which site, which source, what),
 * and the number of the others, which unfolds their list over the map.
 */
export function renderBanner() {
  const open = [...state.warnings.values()].filter(urgent).sort((a, b) => rank(b.level) - rank(a.level) || b.updated - a.updated);
  const line = (/** @type {import("../types").ConsoleWarning} */ w) => html`<span class="what">${t("levelname." + w.level)} · ${w.siteName} · ${sourceText(w.source)} · ${summaryOf(w)}</span>`;
  if (open.length < 2) moreOpen = false;
  const [top, ...rest] = open;
  render($("banner"), html`${top && html`<div class="alarm lvl-${top.level}" data-warning="${top.id}">${line(top)}${
    rest.length > 0 && html`<button type="button" class="more" data-more="" aria-expanded="${moreOpen ? "true" : "false"}">${t("banner.more", { n: rest.length })} ${moreOpen ? "▴" : "▾"}</button>`}<button type="button" data-open="${top.id}">${t("banner.ack")}</button></div>`}${
    moreOpen && html`<ol class="banner-more">${rest.map((w) => html`<li class="alarm-item lvl-${w.level}" data-warning="${w.id}" data-open="${w.id}"><span class="chip lvl-${w.level}">${t("level." + w.level)}</span>${line(w)}</li>`)}</ol>`}`);
  alarm.set(open.length > 0);
  placePanel();
}

/**
 * A new orange or red sounds, and keeps sounding every 15 s until nothing is left unacknowledged.
 * A browser keeps sound off on a page nobody has clicked yet (after a reload, say): the header
 * then says that sound is off and that a click turns it on.
 */
export const alarm = {
  /** @type {AudioContext | null} */ ctx: null,
  /** @type {ReturnType<typeof setInterval> | null} */ timer: null,
  urgent: false,
  /** Makes the audio context (suspended until a click, if the browser says so) and shows its state. */
  init() {
    if (!this.ctx) {
      try {
        this.ctx = new AudioContext();
        this.ctx.addEventListener("statechange", () => this.show());
      } catch (_) { /* no audio at all: shown as off */ }
    }
    this.show();
  },
  /** Turns sound on (a click is what the browser waits for), with one beep to hear it. */
  async enable() {
    this.init();
    try { await this.ctx?.resume(); } catch (_) { /* still off: shown as off */ }
    this.show();
    this.beep();
  },
  on() {
    return !!this.ctx && this.ctx.state === "running";
  },
  show() {
    const b = document.getElementById("sound");
    if (!b) return;
    const on = this.on();
    b.dataset.sound = on ? "on" : "off";
    b.className = "sound " + (on ? "on" : "off") + (!on && this.urgent ? " urgent" : "");
    b.textContent = on ? t("sound.on") : t("sound.off");
    b.title = on ? t("sound.on_hint") : t("sound.off_hint");
  },
  beep() {
    if (!this.ctx || this.ctx.state !== "running") return;
    try {
      const o = this.ctx.createOscillator(), g = this.ctx.createGain();
      o.type = "square"; o.frequency.value = 880; g.gain.value = 0.08;
      o.connect(g); g.connect(this.ctx.destination);
      o.start(); o.stop(this.ctx.currentTime + 0.6);
    } catch (_) { /* no audio device */ }
  },
  /** @param {boolean} on */
  set(on) {
    this.urgent = on;
    if (on && !this.timer) {
      this.beep();
      this.timer = setInterval(() => this.beep(), 15000);
    }
    if (!on) this.stop();
    this.show();
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
    const target = /** @type {HTMLElement} */ (ev.target);
    if (target.closest("[data-more]")) {
      moreOpen = !moreOpen;
      renderBanner();
      return;
    }
    const b = /** @type {HTMLElement | null} */ (target.closest("[data-open]"));
    if (b) {
      moreOpen = false;
      openWarning(Number(b.dataset.open));
      renderBanner();
    }
  });
  $("sound").addEventListener("click", () => alarm.enable());
  for (const [id, key] of /** @type {const} */ ([["f-level", "level"], ["f-kind", "kind"], ["f-division", "division"]])) {
    $(id).addEventListener("change", (ev) => {
      state.filters[key] = /** @type {HTMLSelectElement} */ (ev.target).value;
      changed("filters");
    });
  }
}
