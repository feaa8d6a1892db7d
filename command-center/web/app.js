// The duty-room console: sign-in, a map of the sites in scope coloured by warning level, the
// live warning feed, warning evidence and acknowledgement, the site view with sensor charts,
// and device health. Plain JavaScript over the command-center's API and its live WebSocket.
"use strict";

const LEVELS = ["blue", "yellow", "orange", "red"];
const KINDS = ["landslide", "rockfall", "debris_flow", "subsidence", "fissure"];
const rank = (level) => (level ? LEVELS.indexOf(level) : -1);
const urgent = (w) => w.state === "open" && (w.level === "orange" || w.level === "red");

// ---- text ----------------------------------------------------------------------------------
let lang = localStorage.getItem("gh.lang") || "zh-CN";
function t(key, params) {
  let s = (I18N[lang] && I18N[lang][key]) || I18N["zh-CN"][key] || key;
  if (params) for (const [k, v] of Object.entries(params)) s = s.replace("{" + k + "}", v);
  return s;
}
function applyTexts() {
  document.documentElement.lang = lang;
  document.title = t("app.title");
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
}
// A warning's line in the console's language: the analyzer writes it in both (older warnings
// have English only).
function summaryOf(w) {
  return lang === "zh-CN" && w.summary_zh ? w.summary_zh : w.summary;
}
// What raised a warning, in words: `threshold:gw-01/p-1` → "阈值 · gw-01/p-1",
// `device:silent:gateway:gw-01` → "设备静默 · 网关 gw-01" (grammar in WarningSource).
function sourceText(source) {
  const parts = String(source || "").split(":");
  if (parts[0] === "site") return t("source.combined");
  if (parts[0] === "device") {
    const what = parts[2] === "gateway" ? t("source.gateway", { g: parts[3] }) : parts.slice(2).join(":");
    return t("source.device." + parts[1]) + " · " + what;
  }
  return t("source." + parts[0]) + " · " + parts.slice(1).join(":");
}
function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
const $ = (id) => document.getElementById(id);
// Fixed decimals without trailing zeros: 35.200 → 35.2, 30.000 → 30, 100 → 100.
const num = (x, d = 2) => (x === null || x === undefined || Number.isNaN(Number(x)) ? t("common.none") : Number(x).toFixed(d).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, ""));
// Times in the officer's own zone (the browser's).
function fmtTime(ts) {
  if (ts === null || ts === undefined) return t("common.none");
  const d = typeof ts === "number" ? new Date(ts) : new Date(ts);
  return d.toLocaleString(lang, { hour12: false, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
function ago(ts) {
  if (!ts) return t("health.never");
  const s = Math.max(0, Math.round((Date.now() - new Date(ts).getTime()) / 1000));
  if (s < 60) return t("time.ago_s", { n: s });
  if (s < 3600) return t("time.ago_m", { n: Math.round(s / 60) });
  if (s < 86400) return t("time.ago_h", { n: Math.round(s / 3600) });
  return t("time.ago_d", { n: Math.round(s / 86400) });
}

// ---- session and API -----------------------------------------------------------------------
const session = {
  get token() { return sessionStorage.getItem("gh.token"); },
  set token(v) { v ? sessionStorage.setItem("gh.token", v) : sessionStorage.removeItem("gh.token"); },
  officer: null,
};

class SessionEnded extends Error {}

async function api(path, options = {}) {
  const headers = { "content-type": "application/json" };
  if (session.token) headers.authorization = "Bearer " + session.token;
  const r = await fetch("/api/v1" + path, { ...options, headers });
  if (r.status === 401 && path !== "/login") {
    endSession(t("login.expired"));
    throw new SessionEnded();
  }
  const body = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    const e = new Error((body && body.error) || r.statusText);
    e.status = r.status;
    throw e;
  }
  return body;
}

// ---- sign-in -------------------------------------------------------------------------------
function showLogin(message) {
  $("console").hidden = true;
  $("login").hidden = false;
  $("login-msg").textContent = message || "";
  $("login-pass").value = "";
  $("login-user").focus();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-msg").textContent = "";
  try {
    const body = await api("/login", {
      method: "POST",
      body: JSON.stringify({ username: $("login-user").value, password: $("login-pass").value }),
    });
    session.token = body.token;
    session.officer = body.officer;
    start();
  } catch (e) {
    $("login-msg").textContent = e.status === 401 ? t("login.failed") : e.status === 429 ? t("login.throttled") : t("login.error");
  }
});

function endSession(message) {
  session.token = null;
  session.officer = null;
  live.stop();
  alarm.stop();
  showLogin(message);
}

$("logout").addEventListener("click", async () => {
  try { await api("/logout", { method: "POST", body: "{}" }); } catch (_) { /* ended anyway */ }
  endSession("");
});

for (const b of document.querySelectorAll(".lang")) {
  b.addEventListener("click", () => {
    lang = lang === "zh-CN" ? "en" : "zh-CN";
    localStorage.setItem("gh.lang", lang);
    applyTexts();
    if (!$("console").hidden) renderAll();
  });
}

// ---- state ---------------------------------------------------------------------------------
const store = {
  sites: new Map(),      // code -> site
  warnings: new Map(),   // id -> warning (normalised)
  divisions: [],
  parents: new Map(),    // division code -> parent code
};

// The REST API and the live feed describe a warning differently; the console uses one shape.
function fromRest(w) {
  return { id: w.id, site: w.site.code, siteName: w.site.name, division: w.division, source: w.source,
    category: w.category, level: w.level, state: w.state, summary: w.summary, summary_zh: w.summary_zh,
    updated: new Date(w.updated_at).getTime(), raised: new Date(w.raised_at).getTime() };
}
function fromLive(w) {
  const old = store.warnings.get(w.id);
  const site = store.sites.get(w.site);
  return { id: w.id, site: w.site, siteName: site ? site.name : w.site, division: w.division, source: w.source,
    category: w.category, level: w.level, state: w.state, summary: w.summary, summary_zh: w.summary_zh, updated: w.at,
    raised: old ? old.raised : w.at, transition: w.transition };
}

function siteLevel(code) {
  let best = null, blink = false;
  for (const w of store.warnings.values()) {
    if (w.site !== code || w.state === "closed") continue;
    if (rank(w.level) > rank(best)) best = w.level;
    if (urgent(w)) blink = true;
  }
  return { level: best, blink };
}

function inDivision(code, division) {
  for (let c = code; c; c = store.parents.get(c)) if (c === division) return true;
  return false;
}

const filters = { level: "", kind: "", division: "" };
function siteVisible(site) {
  if (filters.kind && site.type !== filters.kind) return false;
  if (filters.division && !inDivision(site.division.code, filters.division)) return false;
  if (filters.level) {
    const l = siteLevel(site.code).level;
    if (filters.level === "none" ? l : l !== filters.level) return false;
  }
  return true;
}
function warningVisible(w) {
  const site = store.sites.get(w.site);
  if (filters.level && w.level !== filters.level) return false;
  if (site && filters.kind && site.type !== filters.kind) return false;
  if (filters.division && !inDivision(w.division, filters.division)) return false;
  return true;
}

// ---- map -----------------------------------------------------------------------------------
const map = {
  leaflet: null, cluster: null, markers: new Map(), boundaries: null, zone: null, fitted: false,

  init(settings) {
    if (this.leaflet) return;
    this.leaflet = L.map("map", { zoomControl: true, attributionControl: true, minZoom: 3, maxZoom: 18 }).setView([30.6, 104.0], 6);
    const el = $("map");
    if (settings.tile_url) {
      let loaded = 0, failed = 0;
      const tiles = L.tileLayer(settings.tile_url, { attribution: settings.tile_attribution || "", maxZoom: 18 });
      tiles.on("tileload", () => { loaded++; });
      tiles.on("tileerror", () => {
        failed++;
        // Tiles that never load (no network, server down): boundaries on a plain background.
        if (loaded === 0 && failed >= 2 && this.leaflet.hasLayer(tiles)) {
          this.leaflet.removeLayer(tiles);
          el.classList.add("plain");
          $("map-note").textContent = t("map.offline");
          $("map-note").dataset.t = "map.offline";
        }
      });
      tiles.addTo(this.leaflet);
    } else {
      el.classList.add("plain");
      $("map-note").textContent = t("map.notiles");
      $("map-note").dataset.t = "map.notiles";
    }
    this.cluster = L.markerClusterGroup({
      maxClusterRadius: 60, chunkedLoading: true, showCoverageOnHover: false,
      iconCreateFunction: (c) => {
        let best = null, blink = false;
        for (const m of c.getAllChildMarkers()) {
          if (rank(m.options.level) > rank(best)) best = m.options.level;
          blink = blink || m.options.blink;
        }
        return L.divIcon({ html: "<div>" + c.getChildCount() + "</div>", className: "cluster lvl-" + (best || "none") + (blink ? " blink" : ""), iconSize: [30, 30] });
      },
    });
    this.leaflet.addLayer(this.cluster);
  },

  icon(site) {
    const { level, blink } = siteLevel(site.code);
    return { level, blink, icon: L.divIcon({
      html: '<div data-site="' + esc(site.code) + '"></div>',
      className: "site-marker lvl-" + (level || "none") + (blink ? " blink" : ""),
      iconSize: [20, 20],
    }) };
  },

  setBoundaries(divisions) {
    if (this.boundaries) this.leaflet.removeLayer(this.boundaries);
    const features = divisions.filter((d) => d.boundary).map((d) => ({ type: "Feature", geometry: d.boundary, properties: d }));
    this.boundaries = L.geoJSON(features, {
      style: (f) => ({ color: f.properties.level === "county" ? "#3a6ea5" : "#1d3557", weight: f.properties.level === "county" ? 1.5 : 2.5, fillColor: "#cfe0f0", fillOpacity: 0.25 }),
      onEachFeature: (f, layer) => layer.bindTooltip(f.properties.name, { sticky: true }),
    }).addTo(this.leaflet);
    this.boundaries.bringToBack();
  },

  setSites() {
    const markers = [];
    this.markers.clear();
    this.cluster.clearLayers();
    for (const site of store.sites.values()) {
      const [lon, lat] = site.location.coordinates;
      const { icon, level, blink } = this.icon(site);
      const m = L.marker([lat, lon], { icon, level, blink, title: site.name, keyboard: false });
      m.bindTooltip(esc(site.name) + " · " + esc(t("kind." + site.type)));
      m.on("click", () => openSite(site.id));
      this.markers.set(site.code, m);
      if (siteVisible(site)) markers.push(m);
    }
    this.cluster.addLayers(markers);
    $("site-count").textContent = t("feed.sites", { n: markers.length });
    // First view: the officer's divisions and their sites.
    if (!this.fitted && (markers.length || (this.boundaries && this.boundaries.getLayers().length))) {
      this.fitted = true;
      const bounds = L.latLngBounds([]);
      if (this.boundaries && this.boundaries.getLayers().length) bounds.extend(this.boundaries.getBounds());
      if (markers.length) bounds.extend(L.featureGroup(markers).getBounds());
      this.leaflet.fitBounds(bounds.pad(0.05), { maxZoom: 13 });
    }
  },

  // A warning changed: recolour that site's marker (and its cluster).
  refreshSite(code) {
    const m = this.markers.get(code);
    const site = store.sites.get(code);
    if (!m || !site) return;
    const { icon, level, blink } = this.icon(site);
    m.options.level = level;
    m.options.blink = blink;
    m.setIcon(icon);
    const visible = siteVisible(site);
    if (visible !== this.cluster.hasLayer(m)) visible ? this.cluster.addLayer(m) : this.cluster.removeLayer(m);
    else if (visible) this.cluster.refreshClusters(m);
  },

  showZone(zone) {
    if (this.zone) this.leaflet.removeLayer(this.zone);
    this.zone = zone ? L.geoJSON(zone, { style: { color: "#d81e06", weight: 2, dashArray: "6 4", fillOpacity: 0.15 } }).addTo(this.leaflet) : null;
  },
};

// ---- feed and banner -----------------------------------------------------------------------
function renderFeed() {
  const list = [...store.warnings.values()].filter(warningVisible).sort((a, b) => b.updated - a.updated || b.id - a.id);
  const ol = $("feed-list");
  if (!list.length) {
    ol.innerHTML = '<li class="feed-item">' + esc(t("feed.empty")) + "</li>";
    return;
  }
  ol.innerHTML = list.slice(0, 300).map((w) =>
    '<li class="feed-item lvl-' + w.level + " state-" + w.state + '" data-warning="' + w.id + '" data-level="' + w.level + '" data-state="' + w.state + '">' +
    '<div class="head"><span class="chip lvl-' + w.level + '">' + esc(t("level." + w.level)) + "</span>" +
    '<span class="site">' + esc(w.siteName) + "</span>" +
    '<span class="chip state-' + w.state + '">' + esc(t("state." + w.state)) + "</span></div>" +
    '<div class="summary">' + esc(t("category." + w.category)) + " · " + esc(summaryOf(w)) + "</div>" +
    '<div class="when">' + esc(fmtTime(w.updated)) + "</div></li>").join("");
}
$("feed-list").addEventListener("click", (ev) => {
  const li = ev.target.closest("[data-warning]");
  if (li) openWarning(Number(li.dataset.warning));
});

function renderBanner() {
  const open = [...store.warnings.values()].filter(urgent).sort((a, b) => rank(b.level) - rank(a.level) || b.updated - a.updated);
  const shown = open.slice(0, 3);
  $("banner").innerHTML = shown.map((w) =>
    '<div class="alarm lvl-' + w.level + '" data-warning="' + w.id + '"><span class="what">' +
    esc(t("levelname." + w.level)) + " · " + esc(w.siteName) + " · " + esc(summaryOf(w)) + "</span>" +
    '<button type="button" data-open="' + w.id + '">' + esc(t("banner.ack")) + "</button></div>").join("") +
    (open.length > shown.length ? '<div class="alarm lvl-orange">' + esc(t("banner.more", { n: open.length - shown.length })) + "</div>" : "");
  alarm.set(open.length > 0);
}
$("banner").addEventListener("click", (ev) => {
  const b = ev.target.closest("[data-open]");
  if (b) openWarning(Number(b.dataset.open));
});

// A new orange or red sounds, and keeps sounding every 15 s until nothing is left unacknowledged.
const alarm = {
  ctx: null, timer: null,
  beep() {
    try {
      this.ctx = this.ctx || new AudioContext();
      const o = this.ctx.createOscillator(), g = this.ctx.createGain();
      o.type = "square"; o.frequency.value = 880; g.gain.value = 0.08;
      o.connect(g); g.connect(this.ctx.destination);
      o.start(); o.stop(this.ctx.currentTime + 0.6);
    } catch (_) { /* no audio device */ }
  },
  set(on) {
    if (on && !this.timer) this.timer = setInterval(() => this.beep(), 15000);
    if (!on) this.stop();
  },
  stop() { clearInterval(this.timer); this.timer = null; },
};

function renderWho() {
  const o = session.officer;
  if (!o) return;
  const division = store.divisions.find((d) => d.code === o.division_code);
  $("who").textContent = o.display_name + " · " + t("role." + o.role) + " · " + (division ? division.name : o.division_code);
}

function renderAll() {
  renderWho();
  renderFilters();
  map.setSites();
  renderFeed();
  renderBanner();
  if (!$("view-health").hidden) showHealth();
}

function renderFilters() {
  const opt = (v, label, cur) => '<option value="' + esc(v) + '"' + (v === cur ? " selected" : "") + ">" + esc(label) + "</option>";
  $("f-level").innerHTML = opt("", t("filter.all"), filters.level) + LEVELS.slice().reverse().map((l) => opt(l, t("level." + l), filters.level)).join("") + opt("none", t("filter.none"), filters.level);
  $("f-kind").innerHTML = opt("", t("filter.all"), filters.kind) + KINDS.map((k) => opt(k, t("kind." + k), filters.kind)).join("");
  $("f-division").innerHTML = opt("", t("filter.all"), filters.division) + store.divisions.map((d) => opt(d.code, d.name, filters.division)).join("");
}
for (const [id, key] of [["f-level", "level"], ["f-kind", "kind"], ["f-division", "division"]]) {
  $(id).addEventListener("change", (ev) => { filters[key] = ev.target.value; map.setSites(); renderFeed(); });
}

// ---- live feed -----------------------------------------------------------------------------
const live = {
  socket: null, retry: 500, stopped: true,
  start() { this.stopped = false; this.connect(); },
  stop() { this.stopped = true; if (this.socket) this.socket.close(); this.socket = null; },
  connect() {
    if (this.stopped || !session.token) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + "/api/v1/live?token=" + encodeURIComponent(session.token));
    this.socket = ws;
    ws.onmessage = (ev) => this.message(JSON.parse(ev.data));
    ws.onclose = () => {
      if (this.socket !== ws) return;
      this.socket = null;
      setLink(false);
      if (this.stopped) return;
      // The link is gone: check the session (a 401 returns to sign-in), then reconnect.
      setTimeout(() => { api("/me").then(() => this.connect(), (e) => { if (!(e instanceof SessionEnded)) this.connect(); }); }, this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
  },
  async message(m) {
    if (m.type === "ready") {
      this.retry = 500;
      // Whatever changed while the link was down: read it again, no page reload.
      try { await resync(); } catch (e) { if (e instanceof SessionEnded) return; console.error(e); }
      setLink(true);
    } else if (m.type === "warning") {
      applyWarning(m.warning);
    } else if (m.type === "resync") {
      await resync();
    } else if (m.type === "session_ended") {
      endSession(t("login.expired"));
    }
  },
};

function setLink(up) {
  const el = $("link");
  el.className = "link " + (up ? "up" : "down");
  el.textContent = t(up ? "link.up" : "link.down");
  el.dataset.t = up ? "link.up" : "link.down";
}

function applyWarning(raw) {
  const w = fromLive(raw);
  const before = store.warnings.get(w.id);
  store.warnings.set(w.id, w);
  if (urgent(w) && !(before && urgent(before) && rank(before.level) >= rank(w.level))) alarm.beep();
  // Timing hook for the browser tests: when each warning was last shown.
  window.__shown = window.__shown || {};
  map.refreshSite(w.site);
  renderFeed();
  renderBanner();
  window.__shown[w.id + ":" + w.level + ":" + w.state] = performance.timeOrigin + performance.now();
  if (panel.warning === w.id) openWarning(w.id);
}

async function resync() {
  const [sites, warnings] = await Promise.all([api("/sites"), api("/warnings?state=active&limit=5000")]);
  store.sites = new Map(sites.map((s) => [s.code, s]));
  // Keep the closed ones this console saw close; replace the rest with the server's view.
  const closed = [...store.warnings.values()].filter((w) => w.state === "closed");
  store.warnings = new Map(warnings.map((w) => [w.id, fromRest(w)]));
  for (const w of closed) if (!store.warnings.has(w.id)) store.warnings.set(w.id, w);
  renderAll();
}

// ---- warning detail ------------------------------------------------------------------------
const panel = { warning: null, site: null, timers: [], charts: [] };
function closePanel() {
  $("panel").hidden = true;
  panel.warning = null;
  panel.site = null;
  for (const id of panel.timers) clearInterval(id);
  for (const c of panel.charts) c.destroy();
  panel.timers = [];
  panel.charts = [];
  video.stopLive();
  map.showZone(null);
}
$("panel-close").addEventListener("click", closePanel);
function openPanel(html) {
  closePanel();
  $("panel-body").innerHTML = html;
  $("panel").hidden = false;
}

const kv = (rows) => '<dl class="kv">' + rows.filter(Boolean).map(([k, v]) => "<dt>" + esc(t(k)) + "</dt><dd>" + v + "</dd>").join("") + "</dl>";

function thresholdsTable(levels, hit, unit) {
  const cells = LEVELS.filter((l) => levels && levels[l] !== undefined && levels[l] !== null);
  if (!cells.length) return "";
  return '<table class="grid"><tr>' + cells.map((l) => '<th><span class="chip lvl-' + l + '">' + esc(t("level." + l)) + "</span></th>").join("") + "</tr><tr>" +
    cells.map((l) => '<td class="' + (l === hit ? "hit" : "") + '">' + esc(num(levels[l], 3)) + " " + esc(unit || "") + "</td>").join("") + "</tr></table>";
}

// The evidence, for a person: which method, the numbers that fired and the lines they crossed.
function renderEvidence(w, ev) {
  if (!ev || typeof ev !== "object") return "";
  const hours = (h) => t("ev.hours", { n: num(h, 1) });
  switch (ev.method) {
    case "threshold":
      return kv([["ev.value", '<b class="ev-value">' + esc(num(ev.value, 3)) + " " + esc(ev.unit) + "</b> (" + esc(t("ev.direction." + (ev.direction || "above"))) + ")"],
        ev.hysteresis ? ["ev.hysteresis", esc(num(ev.hysteresis, 3))] : null]) +
        "<h4>" + esc(t("ev.thresholds")) + "</h4>" + thresholdsTable(ev.thresholds, w.level, ev.unit);
    case "rate":
      return kv([["ev.velocity", '<b>' + esc(num(ev.velocity_mm_per_day, 3)) + " mm/d</b>"],
        ["ev.velocity_t", esc(num(ev.velocity_t, 2)) + " (" + esc(t("ev.min_t")) + " " + esc(num(ev.min_t, 1)) + ")"],
        ev.acceleration_mm_per_day2 !== null && ev.acceleration_mm_per_day2 !== undefined ? ["ev.acceleration", esc(num(ev.acceleration_mm_per_day2, 3)) + " mm/d²"] : null,
        ev.acceleration_t !== null && ev.acceleration_t !== undefined ? ["ev.acceleration_t", esc(num(ev.acceleration_t, 2))] : null,
        ["ev.fit_r2", esc(num(ev.fit_r2, 3))], ["ev.points", esc(ev.points)], ["ev.window", esc(hours(ev.window_h))],
        ev.spikes_rejected ? ["ev.spikes", esc(ev.spikes_rejected)] : null]) +
        "<h4>" + esc(t("ev.thresholds")) + "</h4>" + thresholdsTable(ev.thresholds, w.level, "mm/d");
    case "rainfall": {
      const wins = ev.windows || [];
      const max = Math.max(1, ...wins.map((x) => Math.max(x.mm || 0, (x.id_threshold_mm_per_h || 0) * x.hours)));
      const bars = wins.map((x) => {
        const line = (x.id_threshold_mm_per_h || 0) * x.hours;
        return '<div class="bar-row"><span>' + esc(hours(x.hours)) + '</span><div class="bar-track">' +
          '<div class="bar-fill lvl-' + (x.level || "none") + '" style="width:' + (100 * (x.mm || 0) / max).toFixed(1) + '%"></div>' +
          (line ? '<div class="bar-line" title="' + esc(t("ev.id_line")) + '" style="left:' + Math.min(99.5, 100 * line / max).toFixed(1) + '%"></div>' : "") +
          "</div><span>" + esc(num(x.mm, 1)) + " mm" + (line ? " / " + esc(num(line, 1)) : "") + "</span></div>";
      }).join("");
      return "<h4>" + esc(t("ev.rain_window")) + " (" + esc(t("ev.id_line")) + ": │)</h4><div class=\"bars\">" + bars + "</div>" +
        kv([["ev.id_ratio", esc(num(ev.id_ratio_max, 2)) + "×"],
          ev.antecedent ? ["ev.effective", esc(num(ev.antecedent.effective_mm, 1)) + " mm"] : null]);
    }
    case "improved_tangent_angle": {
      const iv = ev.inverse_velocity || {};
      return kv([["ev.alpha", "<b>" + esc(num(ev.alpha_deg, 1)) + "°</b>"],
        ["ev.velocity", esc(num(ev.velocity_mm_per_day, 3)) + " mm/d"],
        ["ev.steady", esc(num(ev.steady_velocity_mm_per_day, 3)) + " mm/d"],
        ["ev.window", esc(hours(ev.window_h))],
        iv.method ? ["ev.inverse", esc(t("ev.inverse_fit", { s: num(iv.slope_per_day, 4), r: num(iv.r2, 3) }))] : null,
        iv.method ? ["ev.failure", iv.accepted ? '<b class="ev-failure">' + esc(fmtTime(iv.failure_forecast_ts)) + "</b>" : esc(t("ev.not_accepted"))] : null]) +
        (iv.method ? '<h4>' + esc(t("ev.inverse")) + '</h4><div id="inverse-plot" class="chart"></div>' : "") +
        "<h4>" + esc(t("ev.thresholds")) + "</h4>" + thresholdsTable(ev.thresholds_deg, w.level, "°");
    }
    default:
      return kv(Object.entries(ev).filter(([k]) => k !== "ts").map(([k, v]) => [k, esc(typeof v === "object" ? JSON.stringify(v) : v)]));
  }
}

// The inverse-velocity method: 1/v falls along a line that reaches zero at the forecast
// failure time. Drawn from the fit (days from the evaluation time), over the fitted span and on
// to the forecast.
function inversePlot(el, ev) {
  const iv = ev.inverse_velocity;
  const t0 = ev.ts / 1000;
  const back = (iv.bins || 1) * (iv.bin_h || 1) * 3600;
  const end = iv.failure_forecast_ts ? Math.max(iv.failure_forecast_ts / 1000, t0 + 3600) : t0 + back / 2;
  const n = 60, xs = [], ys = [];
  for (let i = 0; i <= n; i++) {
    const x = t0 - back + (end - t0 + back) * i / n;
    xs.push(x);
    ys.push(Math.max(0, iv.intercept + iv.slope_per_day * (x - t0) / 86400));
  }
  const u = new uPlot({
    width: Math.min(CHART_W, el.clientWidth || CHART_W), height: 160,
    scales: { x: { time: true } },
    axes: [{ values: timeLabels, space: 90 }, { label: "1/v (d/mm)" }],
    series: [{}, { label: "1/v", stroke: "#d81e06", width: 2, points: { show: false } }],
  }, [xs, ys], el);
  panel.charts.push(u);
}

function timeline(events) {
  return '<ol class="timeline">' + (events || []).map((e) => {
    const who = e.actor === "person" ? (e.person || "") : t("actor.analyzer");
    const lv = e.to_level ? ' <span class="chip lvl-' + e.to_level + '">' + esc(t("level." + e.to_level)) + "</span>" : "";
    const note = e.evidence && e.evidence.note ? '<div class="note">' + esc(e.evidence.note) + "</div>" : "";
    return "<li><b>" + esc(t("transition." + e.transition)) + "</b>" + lv + " · " + esc(who) + " · " + esc(fmtTime(e.at)) + note + "</li>";
  }).join("") + "</ol>";
}

async function openWarning(id) {
  let w;
  try { w = await api("/warnings/" + id); } catch (e) { if (!(e instanceof SessionEnded)) console.error(e); return; }
  const mayAck = session.officer && session.officer.role !== "viewer";
  openPanel(
    '<h2><span class="chip lvl-' + w.level + '">' + esc(t("levelname." + w.level)) + "</span> " + esc(w.site.name) + "</h2>" +
    '<p class="summary">' + esc(summaryOf(w)) + "</p>" +
    kv([["warning.state", '<span class="chip state-' + w.state + '" id="warning-state">' + esc(t("state." + w.state)) + "</span>"],
      ["warning.source", esc(t("category." + w.category)) + " · " + '<span title="' + esc(w.source) + '">' + esc(sourceText(w.source)) + "</span>"],
      ["warning.peak", esc(t("level." + w.peak_level))],
      ["warning.raised", esc(fmtTime(w.raised_at))], ["warning.updated", esc(fmtTime(w.updated_at))],
      w.reading_ts ? ["warning.reading", esc(fmtTime(w.reading_ts))] : null,
      ["warning.crossings", esc(w.crossings)],
      w.failure_forecast_at ? ["warning.forecast", "<b>" + esc(fmtTime(w.failure_forecast_at)) + "</b>"] : null,
      w.acknowledged_by ? ["warning.acked_by", esc(w.acknowledged_by) + " · " + esc(fmtTime(w.acknowledged_at))] : null]) +
    (w.state === "open" ? (mayAck
      ? '<div class="ack-box"><label for="ack-note">' + esc(t("warning.note")) + '</label><textarea id="ack-note" placeholder="' + esc(t("warning.note_ph")) + '"></textarea>' +
        '<button type="button" id="ack-button">' + esc(t("warning.ack")) + '</button><p id="ack-msg" class="msg"></p></div>'
      : '<p class="msg">' + esc(t("warning.ack_forbidden")) + "</p>") : "") +
    "<h3>" + esc(t("warning.evidence")) + '</h3><div id="evidence">' + renderEvidence(w, w.evidence) + "</div>" +
    "<h3>" + esc(t("warning.timeline")) + "</h3>" + timeline(w.events) +
    '<p><button type="button" id="open-site">' + esc(t("warning.open_site")) + "</button></p>");
  panel.warning = id;
  if ($("inverse-plot")) inversePlot($("inverse-plot"), w.evidence);
  $("open-site").addEventListener("click", () => openSite(w.site.id));
  const ack = $("ack-button");
  if (ack) ack.addEventListener("click", async () => {
    ack.disabled = true;
    try {
      const after = await api("/warnings/" + id + "/acknowledge", { method: "POST", body: JSON.stringify({ note: $("ack-note").value }) });
      store.warnings.set(after.id, fromRest(after));
      map.refreshSite(after.site.code);
      renderFeed();
      renderBanner();
      openWarning(id);
    } catch (e) {
      if (e instanceof SessionEnded) return;
      ack.disabled = false;
      $("ack-msg").textContent = t("warning.ack_failed", { e: e.message });
    }
  });
}

// ---- site view -----------------------------------------------------------------------------
const CHART_W = 800, CHART_H = 200;
function thresholdSeries(th, n) {
  return LEVELS.filter((l) => th && th.levels && th.levels[l] !== undefined && th.levels[l] !== null).map((l) => ({
    label: t("level." + l), stroke: getComputedStyle(document.documentElement).getPropertyValue("--" + l).trim(), width: 1.5, dash: [6, 4],
    points: { show: false }, value: th.levels[l], data: new Array(n).fill(th.levels[l]),
  }));
}

// Time axis labels in the officer's language and zone, 24-hour clock.
function timeLabels(u, splits) {
  const span = splits.length > 1 ? splits[splits.length - 1] - splits[0] : 0;
  const opts = span > 20 * 86400 ? { month: "2-digit", day: "2-digit" }
    : span > 2 * 86400 ? { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false }
    : { hour: "2-digit", minute: "2-digit", hour12: false };
  return splits.map((v) => new Date(v * 1000).toLocaleString(lang, opts));
}

function chart(el, unit, xs, series, th, xRange) {
  const lines = thresholdSeries(th, xs.length);
  const data = [xs, ...series.map((s) => s.data), ...lines.map((l) => l.data)];
  // Keep the threshold lines in view: the y range covers the data and the lowest line.
  const values = series.flatMap((s) => s.data).filter((v) => v !== null);
  const lows = lines.map((l) => l.value);
  const lo = Math.min(...values, ...(lows.length ? [Math.min(...lows)] : []));
  const hi = Math.max(...values, ...(lows.length ? [Math.min(...lows)] : []));
  const pad = (hi - lo) * 0.1 || 1;
  const u = new uPlot({
    width: Math.min(CHART_W, el.clientWidth || CHART_W), height: CHART_H,
    scales: { x: { time: true, range: xRange ? () => xRange() : undefined }, y: { range: () => [lo - pad, hi + pad] } },
    axes: [{ values: timeLabels, space: 90 }, { label: unit }],
    // Threshold lines across the whole plot, not only under the data.
    hooks: { draw: [(plot) => {
      const ctx = plot.ctx;
      for (const l of lines) {
        const y = plot.valToPos(l.value, "y", true);
        ctx.save();
        ctx.strokeStyle = l.stroke;
        ctx.lineWidth = 1.5 * devicePixelRatio;
        ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
        ctx.beginPath();
        ctx.moveTo(plot.bbox.left, y);
        ctx.lineTo(plot.bbox.left + plot.bbox.width, y);
        ctx.stroke();
        ctx.restore();
      }
    }] },
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke || "#1d3557", width: 2, points: { show: xs.length < 60 } })),
      ...lines.map(({ value, data, ...l }) => l)],
  }, data, el);
  panel.charts.push(u);
  return u;
}

async function sensorCharts(site) {
  for (const s of site.sensors) {
    const box = document.querySelector('[data-sensor="' + s.id + '"]');
    if (!box) continue;
    let th = null;
    try { th = await api("/sensors/" + s.id + "/thresholds"); } catch (_) { /* no lines */ }
    // The last 24 h raw, then polled for what arrives while the view is open.
    const raw = await api("/sensors/" + s.id + "/readings?resolution=raw&limit=100000");
    const xs = raw.points.map((p) => new Date(p.ts).getTime() / 1000);
    const ys = raw.points.map((p) => p.value);
    const rawEl = box.querySelector(".raw");
    rawEl.dataset.points = String(ys.length);
    let u = null;
    const day = () => [Date.now() / 1000 - 86400, Date.now() / 1000];
    if (ys.length) u = chart(rawEl, s.unit, xs, [{ label: s.channel, data: ys }], th, day);
    else rawEl.textContent = t("chart.no_data");
    let last = raw.points.length ? raw.points[raw.points.length - 1].ts : null;
    const poll = setInterval(async () => {
      const from = last ? new Date(new Date(last).getTime() + 1).toISOString() : new Date(Date.now() - 86400000).toISOString();
      let more;
      try { more = await api("/sensors/" + s.id + "/readings?resolution=raw&from=" + encodeURIComponent(from)); } catch (_) { return; }
      if (!more.points.length) return;
      last = more.points[more.points.length - 1].ts;
      for (const p of more.points) { xs.push(new Date(p.ts).getTime() / 1000); ys.push(p.value); }
      const cut = Date.now() / 1000 - 86400;
      while (xs.length && xs[0] < cut) { xs.shift(); ys.shift(); }
      rawEl.dataset.points = String(ys.length);
      if (u) { u.destroy(); panel.charts = panel.charts.filter((c) => c !== u); } else rawEl.textContent = "";
      u = chart(rawEl, s.unit, xs.slice(), [{ label: s.channel, data: ys.slice() }], th, day);
    }, 5000);
    panel.timers.push(poll);
    // Months of hourly rollups: mean with min and max, drag to zoom.
    const from = new Date(Date.now() - 180 * 86400000).toISOString();
    const hourly = await api("/sensors/" + s.id + "/readings?resolution=hourly&from=" + encodeURIComponent(from));
    const hEl = box.querySelector(".hourly");
    if (hourly.points.length) {
      const hx = hourly.points.map((p) => new Date(p.ts).getTime() / 1000);
      // The whole history in view at first, however little of it there is; drag to zoom in.
      const whole = hx.length > 1 ? null : () => [hx[0] - 43200, hx[0] + 43200];
      chart(hEl, s.unit, hx, [
        { label: t("chart.mean"), data: hourly.points.map((p) => p.mean), stroke: "#1d3557" },
        { label: t("chart.min"), data: hourly.points.map((p) => p.min), stroke: "#8fa8c8" },
        { label: t("chart.max"), data: hourly.points.map((p) => p.max), stroke: "#c88f8f" },
      ], th, whole);
    } else hEl.textContent = t("chart.no_data");
  }
}

function gatewaysTable(gws) {
  return '<table class="grid"><tr><th>' + [t("gw.code"), t("gw.state"), t("gw.last_seen"), t("gw.battery"), t("gw.supply"), t("gw.signal"), t("gw.queue")].map(esc).join("</th><th>") + "</th></tr>" +
    gws.map((g) => '<tr class="' + (g.online ? "online" : "offline") + '" data-gateway="' + esc(g.code) + '"><td>' + esc(g.code) + "</td><td>" + esc(t(g.online ? "gw.online" : "gw.offline")) + "</td><td>" +
      esc(ago(g.last_seen_at)) + "</td><td>" + (g.battery_pct !== null ? esc(num(g.battery_pct, 0)) + " %" : esc(t("common.none"))) + "</td><td>" +
      (g.supply_v !== null ? esc(num(g.supply_v, 2)) + " V" : esc(t("common.none"))) + "</td><td>" + (g.signal_dbm !== null ? esc(num(g.signal_dbm, 0)) + " dBm" : esc(t("common.none"))) + "</td><td>" +
      (g.queue_depth !== null ? esc(g.queue_depth) : esc(t("common.none"))) + "</td></tr>").join("") + "</table>";
}

async function openSite(id) {
  let site, people, gateways;
  try {
    [site, people, gateways] = await Promise.all([api("/sites/" + id), api("/sites/" + id + "/people"), api("/gateways?site=" + id)]);
  } catch (e) { if (!(e instanceof SessionEnded)) console.error(e); return; }
  const level = site.warning_level;
  openPanel(
    '<h2 id="site-title">' + (level ? '<span class="chip lvl-' + level + '">' + esc(t("level." + level)) + "</span> " : "") + esc(site.name) + " <small>" + esc(site.code) + "</small></h2>" +
    "<h3>" + esc(t("site.card")) + "</h3>" +
    kv([["site.kind", esc(t("kind." + site.type))], ["site.division", esc(site.division.name)], ["site.status", esc(t("status." + site.status))],
      ["site.scale", esc(site.scale_class ? t("scale." + site.scale_class) : t("common.none")) + (site.volume_m3 ? " · " + esc(num(site.volume_m3 / 1e4, 1)) + " ×10⁴ m³" : "")],
      ["site.people", esc(site.threatened_people) + " " + esc(t("site.people_unit"))],
      ["site.property", esc(num(site.threatened_property, 1)) + " " + esc(t("site.property_unit"))],
      ["site.responsible", people.length ? people.map((p) => esc(t("role_resp." + p.role)) + "：" + esc(p.name) + (p.phone ? ' <a href="tel:' + esc(p.phone) + '">' + esc(p.phone) + "</a>" : "")).join("<br>") : esc(t("site.no_people"))]]) +
    (site.warnings.length ? "<h3>" + esc(t("site.warnings")) + "</h3>" + site.warnings.map((w) =>
      '<div class="feed-item lvl-' + w.level + '" data-warning="' + w.id + '"><span class="chip lvl-' + w.level + '">' + esc(t("level." + w.level)) + "</span> " + esc(summaryOf(w)) + "</div>").join("") : "") +
    "<h3>" + esc(t("site.cameras")) + '</h3><div id="frames" class="frames">' + esc(t("common.loading")) + "</div>" +
    "<h3>" + esc(t("site.sensors")) + "</h3>" +
    site.sensors.map((s) => '<div class="sensor" data-sensor="' + s.id + '"><div class="title">' + esc(t("sensor.kind." + s.kind)) + " · " + esc(s.channel) + " (" + esc(s.unit) + ")</div>" +
      "<div>" + esc(t("chart.raw24")) + '</div><div class="chart raw"></div><div>' + esc(t("chart.hourly")) + '</div><div class="chart hourly"></div></div>').join("") +
    "<h3>" + esc(t("site.gateways")) + "</h3>" + gatewaysTable(gateways));
  panel.site = id;
  for (const el of $("panel-body").querySelectorAll("[data-warning]")) el.addEventListener("click", () => openWarning(Number(el.dataset.warning)));
  map.showZone(site.threat_zone);
  video.showSite(site);
  sensorCharts(site).catch((e) => { if (!(e instanceof SessionEnded)) console.error(e); });
}

// ---- video --------------------------------------------------------------------------------
// The latest frame of each camera of the site; a live view streams frames over a WebSocket of
// its own until stopped, the panel closes, or the center's time limit ends it.
const video = {
  live: null,
  async showSite(site) {
    const box = $("frames");
    let cams = [];
    try { cams = await api("/sites/" + site.id + "/cameras"); } catch (e) { if (e instanceof SessionEnded) return; }
    if (panel.site !== site.id) return;
    if (!cams.length) { box.textContent = t("site.no_frames"); return; }
    box.innerHTML = cams.map((c) => '<div class="frame" data-camera="' + esc(c.gateway + "/" + c.camera) + '" data-gateway="' + esc(c.gateway) + '" data-name="' + esc(c.camera) + '">' +
      '<img alt="" src="/api/v1/frames/' + c.latest_id + "?token=" + encodeURIComponent(session.token) + '">' +
      '<div class="cap"><span class="when">' + esc(c.gateway) + " / " + esc(c.camera) + " · " + esc(fmtTime(c.captured_at)) + "</span>" +
      '<button type="button" class="live">' + esc(t("video.live")) + "</button></div></div>").join("");
    for (const el of box.querySelectorAll(".frame")) {
      el.querySelector(".live").addEventListener("click", () => (this.live && this.live.el === el ? this.stopLive() : this.startLive(el)));
    }
  },
  startLive(el) {
    this.stopLive();
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + "/api/v1/cameras/" + encodeURIComponent(el.dataset.gateway) + "/" +
      encodeURIComponent(el.dataset.name) + "/live?token=" + encodeURIComponent(session.token));
    ws.binaryType = "blob";
    const img = el.querySelector("img"), button = el.querySelector(".live"), cap = el.querySelector(".when");
    this.live = { ws, el, url: null };
    el.dataset.liveFrames = "0";
    button.textContent = t("video.stop");
    cap.textContent = t("video.live_on");
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") return;
      const url = URL.createObjectURL(ev.data);
      img.src = url;
      if (this.live && this.live.url) URL.revokeObjectURL(this.live.url);
      if (this.live) this.live.url = url;
      el.dataset.liveFrames = String(Number(el.dataset.liveFrames) + 1);
    };
    ws.onclose = () => {
      if (this.live && this.live.ws === ws) {
        this.live = null;
        button.textContent = t("video.live");
        cap.textContent = t("video.live_ended");
      }
    };
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

// ---- device health -------------------------------------------------------------------------
async function showHealth() {
  const el = $("view-health");
  let h;
  try { h = await api("/health"); } catch (e) { return; }
  const on = h.gateways.filter((g) => g.online).length;
  const deviceWarnings = [...store.warnings.values()].filter((w) => w.category === "device" && w.state !== "closed");
  el.innerHTML = "<h2>" + esc(t("health.title")) + "</h2>" +
    "<h3>" + esc(t("health.gateways")) + " · " + esc(t("health.summary", { on, all: h.gateways.length })) + "</h3>" +
    '<table class="grid" id="health-gateways"><tr><th>' + [t("gw.code"), t("gw.site"), t("gw.state"), t("gw.last_seen"), t("gw.battery"), t("gw.supply"), t("gw.signal"), t("gw.queue"), t("gw.firmware")].map(esc).join("</th><th>") + "</th></tr>" +
    h.gateways.map((g) => '<tr class="' + (g.online ? "online" : "offline") + '" data-gateway="' + esc(g.code) + '"><td>' + esc(g.code) + "</td><td>" + esc(g.site_name) + "</td><td>" + esc(t(g.online ? "gw.online" : "gw.offline")) + "</td><td>" +
      esc(ago(g.last_seen_at)) + "</td><td>" + (g.battery_pct !== null ? esc(num(g.battery_pct, 0)) + " %" : "—") + "</td><td>" + (g.supply_v !== null ? esc(num(g.supply_v, 2)) + " V" : "—") + "</td><td>" +
      (g.signal_dbm !== null ? esc(num(g.signal_dbm, 0)) + " dBm" : "—") + "</td><td>" + (g.queue_depth !== null ? esc(g.queue_depth) : "—") + "</td><td>" + esc(g.firmware_version || "—") + "</td></tr>").join("") + "</table>" +
    "<h3>" + esc(t("health.device_warnings")) + "</h3>" +
    (deviceWarnings.length ? deviceWarnings.map((w) => '<div class="feed-item lvl-' + w.level + '" data-warning="' + w.id + '"><span class="chip lvl-' + w.level + '">' + esc(t("level." + w.level)) + "</span> " + esc(w.siteName) + " · " + esc(summaryOf(w)) + "</div>").join("") : "<p>" + esc(t("feed.empty")) + "</p>") +
    "<h3>" + esc(t("health.silent")) + "</h3>" +
    (h.silent_sensors.length ? '<table class="grid" id="health-silent"><tr><th>' + [t("gw.site"), t("gw.code"), t("site.sensors"), t("health.interval"), t("health.last_reading")].map(esc).join("</th><th>") + "</th></tr>" +
      h.silent_sensors.map((s) => "<tr><td>" + esc(s.site_code) + "</td><td>" + esc(s.gateway) + "</td><td>" + esc(t("sensor.kind." + s.kind)) + " · " + esc(s.channel) + "</td><td>" + esc(s.sampling_interval_s) + " s</td><td>" + esc(ago(s.last_reading_at)) + "</td></tr>").join("") + "</table>"
      : "<p>" + esc(t("health.silent_none")) + "</p>") +
    "<h3>" + esc(t("health.quarantine")) + "</h3>" +
    (h.quarantine.length ? '<table class="grid" id="health-quarantine"><tr><th>' + [t("gw.code"), t("health.reason"), t("health.count"), t("health.last"), t("health.detail")].map(esc).join("</th><th>") + "</th></tr>" +
      h.quarantine.map((q) => '<tr data-gateway="' + esc(q.gateway_code || "") + '"><td>' + esc(q.gateway_code || t("health.unknown_gw")) + "</td><td title=\"" + esc(q.reason) + "\">" + esc(t("reason." + q.reason)) + "</td><td>" + esc(q.messages) + "</td><td>" + esc(fmtTime(q.last_at)) + "</td><td>" + esc(q.detail) + "</td></tr>").join("") + "</table>"
      : "<p>" + esc(t("health.quarantine_none")) + "</p>");
  for (const d of el.querySelectorAll("[data-warning]")) d.addEventListener("click", () => openWarning(Number(d.dataset.warning)));
}

function showTab(name) {
  $("tab-map").classList.toggle("active", name === "map");
  $("tab-health").classList.toggle("active", name === "health");
  $("view-map").hidden = name !== "map";
  $("view-health").hidden = name !== "health";
  if (name === "health") showHealth();
  else if (map.leaflet) map.leaflet.invalidateSize();
}
$("tab-map").addEventListener("click", () => showTab("map"));
$("tab-health").addEventListener("click", () => showTab("health"));

// ---- start ---------------------------------------------------------------------------------
async function start() {
  try {
    if (!session.officer) session.officer = await api("/me");
    const [settings, divisions] = await Promise.all([api("/console"), api("/divisions")]);
    store.divisions = divisions;
    store.parents = new Map(divisions.filter((d) => d.parent_code).map((d) => [d.code, d.parent_code]));
    $("login").hidden = true;
    $("console").hidden = false;
    map.init(settings);
    map.setBoundaries(divisions);
    await resync();
    setLink(false);
    live.start();
  } catch (e) {
    if (e instanceof SessionEnded) return;
    console.error(e);
    window.__error = String((e && e.stack) || e);
    showLogin(t("login.error"));
  }
}

applyTexts();
if (session.token) start(); else showLogin("");
