// @ts-check
// The side panel that shows one warning or one site; what it holds ends when it closes.

import { render } from "../lib/html.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

export const panel = {
  /** @type {number | null} */ warning: null,
  /** @type {number | null} */ site: null,
  /** Charts to destroy on close. @type {Array<{destroy(): void}>} */ charts: [],
  /** What else to end on close (sockets, live views). @type {Array<() => void>} */ endings: [],
};

export function closePanel() {
  $("panel").hidden = true;
  panel.warning = null;
  panel.site = null;
  for (const c of panel.charts) c.destroy();
  for (const end of panel.endings) end();
  panel.charts = [];
  panel.endings = [];
}

/** @param {import("../lib/html.js").Html} content */
export function openPanel(content) {
  closePanel();
  render($("panel-body"), content);
  $("panel").hidden = false;
  // What was opened starts at its top, whatever the panel showed before.
  $("panel").scrollTop = 0;
  placePanel();
}

/** The side panel starts below the header and the banner's first line, never over them. */
export function placePanel() {
  const header = /** @type {HTMLElement} */ (document.querySelector("#console .top")).getBoundingClientRect();
  const first = $("banner").firstElementChild;
  $("panel").style.top = Math.round(first ? first.getBoundingClientRect().bottom : header.bottom) + "px";
}
