// @ts-check
// The duty-room console: sign-in, a map of the sites in scope coloured by warning level, the
// live warning feed, warning evidence and acknowledgement, the site view with sensor charts,
// device health, and the center's notices. Native ES modules over the command-center's API
// and its live WebSocket; each view subscribes to the store's parts it shows.

import { api, ApiFailure, report, session } from "./lib/api.js";
import { fromRest } from "./lib/model.js";
import { changed, state, subscribe } from "./lib/store.js";
import { getLang, setLang, setMessages, setTimeZone, t } from "./lib/text.js";
import { alerts } from "./views/alerts.js";
import { alarm, renderBanner, renderFeed, renderFilters, renderWho, wireFeed } from "./views/feed.js";
import { showHealth } from "./views/health.js";
import { live, setLink } from "./views/live.js";
import { map } from "./views/map.js";
import { installPages, pageNamed } from "./lib/pages.js";
import "./views/pages.js";
import { closePanel } from "./views/panel.js";
import { openSite } from "./views/site.js";
import { openWarning } from "./views/warning.js";
import { enter as enterRoom } from "./views/consult.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

function applyTexts() {
  document.documentElement.lang = getLang();
  document.title = t("app.title");
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("[data-t]"))) el.textContent = t(el.dataset.t || "");
}

// ---- sign-in -------------------------------------------------------------------------------
/** @param {string} message */
function showLogin(message) {
  $("console").hidden = true;
  $("login").hidden = false;
  $("login-msg").textContent = message || "";
  input("login-pass").value = "";
  input("login-user").focus();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-msg").textContent = "";
  try {
    /** @type {import("./types").LoginAnswer} */
    const body = await api("/login", {
      method: "POST",
      body: JSON.stringify({ username: input("login-user").value, password: input("login-pass").value, cookie: true }),
    });
    session.csrf = body.csrf_token;
    state.officer = body.officer;
    start();
  } catch (e) {
    const status = e instanceof ApiFailure ? e.status : 0;
    $("login-msg").textContent = status === 401 ? t("login.failed") : status === 429 ? t("login.throttled") : t("login.error");
  }
});

/** @param {string} message */
function endSession(message) {
  session.csrf = null;
  state.officer = null;
  live.stop();
  alarm.stop();
  alerts.clear();
  closePanel();
  showLogin(message);
}
session.onEnded = endSession;
live.onSessionEnded = endSession;

$("logout").addEventListener("click", async () => {
  try { await api("/logout", { method: "POST", body: "{}" }); } catch (_) { /* ended anyway */ }
  endSession("");
});

for (const b of document.querySelectorAll(".lang")) {
  b.addEventListener("click", () => {
    setLang(getLang() === "zh-CN" ? "en" : "zh-CN");
    localStorage.setItem("gh.lang", getLang());
    applyTexts();
    if (!$("console").hidden) changed("lang");
  });
}

// ---- views on the store ----------------------------------------------------------------------
subscribe(["officer", "divisions", "lang"], renderWho);
subscribe(["divisions", "lang"], renderFilters);
subscribe(["sites", "filters", "lang"], (what) => map.setSites(what));
subscribe(["warnings"], () => {
  map.refreshSites(state.dirtySites);
  state.dirtySites.clear();
});
subscribe(["sites", "warnings", "filters", "lang"], () => {
  renderFeed();
  renderBanner();
});
// Device health reads the server again on a resync or a language switch, not on every change.
subscribe(["sites", "lang"], () => {
  if (!$("view-health").hidden) showHealth(openWarning);
});
wireFeed(openWarning);

async function resync() {
  const [sites, warnings] = await Promise.all([api("/sites"), api("/warnings?state=active&limit=5000")]);
  state.sites = new Map(sites.map((/** @type {import("./types").Site} */ s) => [s.code, s]));
  // Keep the closed ones this console saw close; replace the rest with the server's view.
  const closed = [...state.warnings.values()].filter((w) => w.state === "closed");
  state.warnings = new Map(warnings.map((/** @type {import("./types").Warning} */ w) => [w.id, fromRest(w)]));
  for (const w of closed) if (!state.warnings.has(w.id)) state.warnings.set(w.id, w);
  state.dirtySites.clear();
  changed("sites", "warnings");
}
live.resync = resync;

// ---- tabs ----------------------------------------------------------------------------------
// The map and device health are built in; every other page registers itself (views/pages.js).
let shownPage = "map";
/** @param {string} name */
function showTab(name) {
  if (shownPage !== name) pageNamed(shownPage)?.hide?.();
  shownPage = name;
  for (const tab of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("#console nav .tab"))) {
    tab.classList.toggle("active", tab.id === `tab-${name}`);
  }
  for (const view of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("#console > main"))) {
    view.hidden = view.id !== `view-${name}`;
  }
  if (name === "health") showHealth(openWarning);
  else if (name === "map") map.leaflet?.invalidateSize();
  else pageNamed(name)?.show($(`view-${name}`));
}
$("tab-map").addEventListener("click", () => showTab("map"));
$("tab-health").addEventListener("click", () => showTab("health"));
$("panel-close").addEventListener("click", closePanel);

// ---- start ---------------------------------------------------------------------------------
async function start() {
  try {
    if (!state.officer) {
      /** @type {import("./types").Me} */
      const me = await api("/me");
      state.officer = me;
      session.csrf = me.csrf_token;
    }
    const [settings, divisions] = await Promise.all([api("/console"), api("/divisions")]);
    setTimeZone(settings.time_zone);
    alarm.init();
    state.divisions = divisions;
    state.parents = new Map(divisions.filter((/** @type {import("./types").Division} */ d) => d.parent_code).map((/** @type {import("./types").Division} */ d) => [d.code, d.parent_code]));
    $("login").hidden = true;
    $("console").hidden = false;
    installPages(/** @type {HTMLElement} */ ($("tab-health").parentElement), $("view-health"), state.officer, showTab);
    applyTexts();
    showTab("map");
    map.init(settings, openSite);
    map.setBoundaries(divisions);
    changed("officer", "divisions");
    await resync();
    setLink(false);
    live.start();
    // A link into a page (the field app's into a consultation room): `/?page=consult&room=7`.
    const wanted = new URLSearchParams(location.search);
    const page = wanted.get("page") || "";
    if (document.getElementById(`tab-${page}`)) {
      showTab(page);
      const room = Number(wanted.get("room"));
      if (page === "consult" && room > 0) await enterRoom(room);
    }
  } catch (e) {
    report(e);
    showLogin(t("login.error"));
  }
}

async function boot() {
  const stored = localStorage.getItem("gh.lang");
  setLang(stored === "en" ? "en" : "zh-CN");
  setMessages(await (await fetch("/api/v1/messages")).json());
  applyTexts();
  // A reloaded page keeps its cookie session: ask who is signed in before showing the sign-in.
  const me = await fetch("/api/v1/me", { credentials: "same-origin" });
  if (me.ok) start();
  else showLogin("");
}
boot().catch((e) => { report(e); showLogin(t("login.error")); });
