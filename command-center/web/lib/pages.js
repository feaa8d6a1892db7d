// @ts-check
// The console's pages beyond the map and device health: the register, incidents, approvals,
// supervision, forecasts... Each feature registers one page here (its own module in `views/`);
// the console gives it a tab and a <main> of its own and tells it when it is shown or hidden.

/**
 * @typedef {object} Page
 * @property {string} name          short id: the tab is `tab-<name>`, the view `view-<name>`
 * @property {string} label         message key of the tab's text
 * @property {(officer: import("../types").Officer) => boolean} [allowed]  shown to this officer?
 * @property {(root: HTMLElement) => void | Promise<void>} show   (re)draws the page into `root`
 * @property {() => void} [hide]    stops what the page runs while shown (timers, subscriptions)
 */

/** @type {Page[]} */
const pages = [];

/** Registers a page; the order of registration is the order of the tabs. @param {Page} page */
export function registerPage(page) {
  if (pages.some((p) => p.name === page.name)) throw new Error(`page ${page.name} registered twice`);
  pages.push(page);
}

/** @param {string} name */
export function pageNamed(name) {
  return pages.find((p) => p.name === name);
}

/**
 * Adds a tab to `nav` and a hidden <main> after `after` for every page this officer may see,
 * and removes those of an earlier session.
 * @param {HTMLElement} nav
 * @param {HTMLElement} after
 * @param {import("../types").Officer} officer
 * @param {(name: string) => void} onTab
 */
export function installPages(nav, after, officer, onTab) {
  for (const el of document.querySelectorAll("[data-page-owned]")) el.remove();
  let last = after;
  for (const page of pages) {
    if (page.allowed && !page.allowed(officer)) continue;
    const tab = document.createElement("button");
    tab.type = "button";
    tab.id = `tab-${page.name}`;
    tab.className = "tab";
    tab.dataset.t = page.label;
    tab.dataset.pageOwned = "";
    tab.addEventListener("click", () => onTab(page.name));
    nav.appendChild(tab);
    const view = document.createElement("main");
    view.id = `view-${page.name}`;
    view.className = "page";
    view.hidden = true;
    view.dataset.pageOwned = "";
    last.after(view);
    last = view;
  }
}
