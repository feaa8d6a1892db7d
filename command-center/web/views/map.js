// @ts-check
// The map: division boundaries, the sites in scope coloured by their warning level (clustered),
// and a warning's threat zone. Every name given to Leaflet goes through `html`.
//
// Clustering: supercluster (vendor/) indexes the sites shown once per change of the sites, the
// filters or a site's colour; each move or zoom asks it for the clusters and sites in and around
// the view, and only those are markers. At 10,000 sites that is a few hundred elements however
// far out, so a zoom animates few elements and a filter change rebuilds one index.

import { CLUSTER_MAX_ZOOM, MIN_ZOOM, clusterCount, clusterOptions, clusterSize, levelOf, sitePoint } from "../lib/clusters.js";
import { html, markup, render } from "../lib/html.js";
import { siteLevels, siteVisible } from "../lib/model.js";
import { state } from "../lib/store.js";
import { getLang, t } from "../lib/text.js";

/** @typedef {import("../types").Site} Site */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @type {(id: number) => void} */
let onSiteClick = () => {};

/** From this zoom on, each site's name is shown beside its marker. */
export const LABEL_ZOOM = 13;

/** Markers are made for the view and this share of it on each side: a short pan shows them at once. */
const AROUND = 0.1;
/**
 * Markers are added and removed for at most this long per frame (ms): the style, layout and
 * paint of what a slice added fall in the same frame, and on a loaded machine (or a slow PC)
 * 25 ms of markers made frames of over 100 ms.
 */
const SLICE_MS = 6;
/** Up to this many markers to add and remove are done in one go, at once. */
const AT_ONCE = 30;
/** At most this many markers are kept for reuse. */
const SPARE = 3000;

export const map = {
  /** @type {any} */ leaflet: null,
  /** @type {any} */ layer: null,
  /** @type {any} supercluster over the sites shown */ index: null,
  /** Each site's colour (`siteLevels`), from the warnings of the last change. */
  /** @type {Map<string, {level: import("../types").Level | null, blink: boolean}>} */ looks: new Map(),
  /** What is drawn now, by what it looks like: a marker is kept while its look stays. */
  /** @type {Map<string, any>} */ drawn: new Map(),
  /** Markers that left the view lately, by look: a filter undone or a pan back takes them again. */
  /** @type {Map<string, any>} */ spare: new Map(),
  /** Markers still on the map that the last draw takes off, a frame's share at a time. */
  /** @type {Map<string, any>} */ leaving: new Map(),
  /** Counts the draws: a draw still adding markers stops when a newer one started. */
  run: 0,
  /** @type {any} */ boundaries: null,
  /** @type {any} */ zone: null,
  fitted: false,

  /**
   * @param {import("../types").ConsoleSettings} settings
   * @param {(id: number) => void} openSite
   */
  init(settings, openSite) {
    onSiteClick = openSite;
    if (this.leaflet) return;
    this.leaflet = L.map("map", { zoomControl: true, attributionControl: true, minZoom: MIN_ZOOM, maxZoom: 18,
      // Markers are hidden while a zoom animates and drawn anew at the new zoom: hundreds of
      // markers each moving on its own made frames of a third of a second.
      markerZoomAnimation: false }).setView([30.6, 104.0], 6);
    // Leaflet's own prefix carries a flag icon; the map names only its library, as text.
    this.leaflet.attributionControl.setPrefix("Leaflet");
    const el = $("map");
    const note = (/** @type {string} */ key) => {
      $("map-note").textContent = t(key);
      $("map-note").dataset.t = key;
    };
    if (settings.tile_url) {
      let loaded = 0, failed = 0;
      // The attribution is configuration, shown as text.
      const tiles = L.tileLayer(settings.tile_url, { attribution: markup(html`${settings.tile_attribution || ""}`), maxZoom: 18 });
      tiles.on("tileload", () => { loaded++; });
      tiles.on("tileerror", () => {
        failed++;
        // Tiles that never load (no network, server down): boundaries on a plain background.
        if (loaded === 0 && failed >= 2 && this.leaflet.hasLayer(tiles)) {
          this.leaflet.removeLayer(tiles);
          el.classList.add("plain");
          note("map.offline");
        }
      });
      tiles.addTo(this.leaflet);
    } else {
      el.classList.add("plain");
      note("map.notiles");
    }
    this.layer = L.layerGroup().addTo(this.leaflet);
    this.leaflet.on("moveend", () => this.draw());
    // The legend: what the colours and the blinking mean.
    const legend = L.control({ position: "bottomleft" });
    legend.onAdd = () => {
      this.legend = L.DomUtil.create("div", "map-legend");
      this.drawLegend();
      return this.legend;
    };
    legend.addTo(this.leaflet);
    // Names at close zoom: one class on the map, no marker redrawn.
    const labels = () => el.classList.toggle("labels", this.leaflet.getZoom() >= LABEL_ZOOM);
    this.leaflet.on("zoomend", labels);
    labels();
    this.initSearch();
  },

  /** The site search: name or code, among the sites in scope; a choice goes to the site. */
  initSearch() {
    const input = /** @type {HTMLInputElement} */ ($("site-search"));
    input.placeholder = t("map.search_ph");
    const list = $("site-results");
    const matches = () => {
      const q = input.value.trim().toLowerCase();
      if (!q) return [];
      const all = [...state.sites.values()];
      const hits = all.filter((s) => s.name.toLowerCase().includes(q) || s.code.toLowerCase().includes(q));
      // Names that start with what was typed first.
      hits.sort((a, b) => Number(!a.name.toLowerCase().startsWith(q)) - Number(!b.name.toLowerCase().startsWith(q)) || a.code.localeCompare(b.code));
      return hits.slice(0, 10);
    };
    const draw = () => {
      const found = matches();
      list.hidden = !input.value.trim();
      render(list, found.length
        ? html`${found.map((s) => html`<li><button type="button" data-code="${s.code}">${s.name} · ${s.code} · ${s.division.name}</button></li>`)}`
        : html`<li class="none">${t("map.search_none")}</li>`);
    };
    input.addEventListener("input", draw);
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        const found = matches();
        if (found.length) this.findSite(found[0].code);
      } else if (ev.key === "Escape") list.hidden = true;
    });
    list.addEventListener("click", (ev) => {
      const b = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (ev.target).closest("button[data-code]"));
      if (b && b.dataset.code) this.findSite(b.dataset.code);
    });
  },

  /** Centres the map on site `code` close enough to read its name, and opens it. @param {string} code */
  findSite(code) {
    const site = state.sites.get(code);
    $("site-results").hidden = true;
    if (!site) return;
    const [lon, lat] = site.location.coordinates;
    let zoom = Math.max(this.leaflet.getZoom(), LABEL_ZOOM + 1);
    // Still in a cluster (sites very close together): zoom on until it stands alone.
    if (this.index && siteVisible(state, site, this.looks)) {
      while (zoom <= CLUSTER_MAX_ZOOM && !this.standsAlone(code, lon, lat, zoom)) zoom++;
    }
    this.leaflet.setView([lat, lon], Math.min(zoom, this.leaflet.getMaxZoom()), { animate: false });
    onSiteClick(site.id);
    document.dispatchEvent(new CustomEvent("gh:site-found", { detail: { code, zoom: this.leaflet.getZoom() } }));
  },

  /**
   * Whether site `code` at (lon, lat) is drawn on its own at `zoom`, not inside a cluster.
   * @param {string} code @param {number} lon @param {number} lat @param {number} zoom
   */
  standsAlone(code, lon, lat, zoom) {
    const e = 1e-7;
    return this.index.getClusters([lon - e, lat - e, lon + e, lat + e], zoom)
      .some((/** @type {any} */ f) => !f.properties.cluster && f.properties.code === code);
  },

  /** @type {HTMLElement | null} */ legend: null,

  drawLegend() {
    if (!this.legend) return;
    render(this.legend, html`${["red", "orange", "yellow", "blue", "none"].map((l) => html`<div><span class="dot lvl-${l}"></span>${t(l === "none" ? "map.legend_none" : "level." + l)}</div>`)}<div><span class="dot lvl-red blink"></span>${t("map.legend_blink")}</div>`);
  },

  /** @param {import("../types").Division[]} divisions */
  setBoundaries(divisions) {
    if (this.boundaries) this.leaflet.removeLayer(this.boundaries);
    const features = divisions.filter((d) => d.boundary).map((d) => ({ type: "Feature", geometry: d.boundary, properties: d }));
    this.boundaries = L.geoJSON(features, {
      style: (/** @type {any} */ f) => ({ color: f.properties.level === "county" ? "#3a6ea5" : "#1d3557", weight: f.properties.level === "county" ? 1.5 : 2.5, fillColor: "#cfe0f0", fillOpacity: 0.25 }),
      onEachFeature: (/** @type {any} */ f, /** @type {any} */ layer) => layer.bindTooltip(markup(html`${f.properties.name}`), { sticky: true }),
    }).addTo(this.leaflet);
    this.boundaries.bringToBack();
  },

  /**
   * The sites shown changed (sites, filters or language): the index is built again, and the
   * markers of a changed language or changed sites are made again.
   * @param {Set<string>} [what] the store's topics that changed
   */
  setSites(what) {
    if (!this.leaflet) return;
    if (!what || what.has("lang")) {
      this.drawLegend();
      /** @type {HTMLInputElement} */ ($("site-search")).placeholder = t("map.search_ph");
    }
    if (!what || what.has("sites") || what.has("lang")) {
      // Names and tooltips in the language, sites renamed or moved: every marker anew.
      this.layer.clearLayers();
      this.drawn.clear();
      this.leaving.clear();
      this.spare.clear();
    }
    this.looks = siteLevels(state.warnings.values());
    const shown = this.reindex();
    $("site-count").textContent = t("feed.sites", { n: clusterCount(shown.length, getLang()) });
    // First view: the officer's divisions and their sites.
    if (!this.fitted && (shown.length || (this.boundaries && this.boundaries.getLayers().length))) {
      this.fitted = true;
      const bounds = L.latLngBounds([]);
      if (this.boundaries && this.boundaries.getLayers().length) bounds.extend(this.boundaries.getBounds());
      if (shown.length) {
        let [w, s, e, n] = [180, 90, -180, -90];
        for (const site of shown) {
          const [lon, lat] = site.location.coordinates;
          w = Math.min(w, lon); e = Math.max(e, lon); s = Math.min(s, lat); n = Math.max(n, lat);
        }
        bounds.extend(L.latLngBounds([s, w], [n, e]));
      }
      this.leaflet.fitBounds(bounds.pad(0.05), { maxZoom: 13 });
    }
  },

  /** Warnings changed: the sites' colours (and their clusters') anew. @param {Set<string>} codes the sites whose warnings changed */
  refreshSites(codes) {
    if (!this.leaflet || !codes.size) return;
    this.looks = siteLevels(state.warnings.values());
    this.reindex();
  },

  /** Indexes the sites that pass the filters and draws the view; returns them. */
  reindex() {
    /** @type {Site[]} */
    const shown = [];
    for (const site of state.sites.values()) if (siteVisible(state, site, this.looks)) shown.push(site);
    this.index = new Supercluster(clusterOptions()).load(shown.map((site) => sitePoint(site, this.looks.get(site.code))));
    this.draw();
    return shown;
  },

  /**
   * Makes markers for the clusters and sites in and around the view at its zoom: a marker whose
   * look is unchanged is kept (a cluster takes its new id), the others are removed at once and
   * the new ones added over the next frames.
   */
  draw() {
    if (!this.index) return;
    const run = ++this.run;
    const view = this.leaflet.getBounds(), b = view.pad(AROUND);
    const zoom = Math.round(this.leaflet.getZoom());
    const bbox = [Math.max(-180, b.getWest()), Math.max(-85, b.getSouth()), Math.min(180, b.getEast()), Math.min(85, b.getNorth())];
    const lang = getLang();
    /** @type {Map<string, any>} */
    const now = new Map();
    /** @type {{key: string, f: any, d: number}[]} */
    const todo = [];
    const centre = view.getCenter();
    for (const f of this.index.getClusters(bbox, zoom)) {
      const p = f.properties;
      const [lon, lat] = f.geometry.coordinates;
      const key = p.cluster ? `c:${zoom}:${lon},${lat}:${p.point_count}:${p.rank}:${p.blink}` : `s:${p.code}:${p.rank}:${p.blink}`;
      const m = this.drawn.get(key) || this.leaving.get(key);
      if (m) {
        this.leaving.delete(key);
        if (p.cluster) m.options.clusterId = p.cluster_id;
        now.set(key, m);
      } else todo.push({ key, f, d: (lon - centre.lng) ** 2 + (lat - centre.lat) ** 2 });
    }
    // What left the view goes first (kept a while for reuse), then what came, nearest the
    // centre first: a share of a frame at a time, so that no frame of a zoom or a filter change
    // waits for hundreds of markers.
    if (this.spare.size > SPARE) this.spare.clear();
    for (const [key, m] of this.drawn) if (!now.has(key)) this.leaving.set(key, m);
    this.drawn = now;
    todo.sort((x, y) => x.d - y.d);
    // A few changes (a warning on a site, a small county) are made at once.
    const atOnce = todo.length + this.leaving.size <= AT_ONCE;
    let i = 0;
    const step = () => {
      // A newer draw takes over what is still to remove and to add.
      if (run !== this.run) return;
      const until = atOnce ? Infinity : performance.now() + SLICE_MS;
      for (const [key, m] of this.leaving) {
        if (performance.now() >= until) break;
        this.layer.removeLayer(m);
        this.leaving.delete(key);
        this.spare.set(key, m);
      }
      for (; !this.leaving.size && i < todo.length && performance.now() < until; i++) {
        const { key, f } = todo[i];
        const p = f.properties;
        const [lon, lat] = f.geometry.coordinates;
        const m = this.spare.get(key) || (p.cluster ? this.clusterMarker(lat, lon, p, lang) : this.siteMarker(p.code, p));
        if (!m) continue;
        this.spare.delete(key);
        if (p.cluster) m.options.clusterId = p.cluster_id;
        this.layer.addLayer(m);
        now.set(key, m);
      }
      if (this.leaving.size || i < todo.length) requestAnimationFrame(step);
      else this.declutter();
    };
    // Many changes start in the next frame's callbacks, before it is drawn: the end of a zoom
    // (Leaflet's own work) and the first markers of the new zoom are not one long frame.
    if (atOnce) step();
    else requestAnimationFrame(step);
  },

  /**
   * At close zoom, names never cover each other: the highest level first, then nearest the
   * centre. A site under a warning is named even over its neighbours' dots (the names let
   * clicks through); any other site only where its name covers no dot. Sites close together
   * otherwise printed their names over each other's ("点5737" for "隐患点5737").
   */
  declutter() {
    if (this.leaflet.getZoom() < LABEL_ZOOM) return;
    const DOT = 10, LINE = 18, CHAR = 12, CELL = 64;
    /** @type {{m: any, x: number, y: number, rank: number, w: number}[]} */
    const sites = [];
    for (const [key, m] of this.drawn) {
      if (!key.startsWith("s:") || !m.getElement()) continue;
      const p = this.leaflet.latLngToContainerPoint(m.getLatLng());
      const name = m.options.title || "";
      sites.push({ m, x: p.x, y: p.y, rank: Number(key.split(":").at(-2)) || 0, w: 10 + CHAR * name.length });
    }
    // The dots and the names placed, each in a grid of cells for a quick look-up.
    /** @type {Map<string, number[][]>} */
    const dotsAt = new Map();
    /** @param {number[]} r [left, top, right, bottom] */
    const cells = (r) => {
      const out = [];
      for (let cx = Math.floor(r[0] / CELL); cx <= Math.floor(r[2] / CELL); cx++)
        for (let cy = Math.floor(r[1] / CELL); cy <= Math.floor(r[3] / CELL); cy++) out.push(`${cx},${cy}`);
      return out;
    };
    /** @param {Map<string, number[][]>} g @param {number[]} r */
    const put = (g, r) => { for (const c of cells(r)) { const l = g.get(c); if (l) l.push(r); else g.set(c, [r]); } };
    /** @param {Map<string, number[][]>} g @param {number[]} r @param {number[]} [own] */
    const clear = (g, r, own) => cells(r).every((c) => (g.get(c) || []).every((o) => o === own || o[2] <= r[0] || o[0] >= r[2] || o[3] <= r[1] || o[1] >= r[3]));
    const dots = sites.map((s) => [s.x - DOT, s.y - DOT, s.x + DOT, s.y + DOT]);
    /** @type {Map<string, number[][]>} */
    const names = new Map();
    for (const r of dots) put(dotsAt, r);
    const c = this.leaflet.getSize().divideBy(2);
    const order = sites.map((s, i) => i).sort((a, b) => sites[b].rank - sites[a].rank
      || (sites[a].x - c.x) ** 2 + (sites[a].y - c.y) ** 2 - ((sites[b].x - c.x) ** 2 + (sites[b].y - c.y) ** 2));
    for (const i of order) {
      const s = sites[i];
      const label = [s.x + DOT, s.y - DOT, s.x + DOT + s.w, s.y - DOT + LINE];
      const shown = clear(names, label) && (s.rank > 0 || clear(dotsAt, label, dots[i]));
      if (shown) put(names, label);
      s.m.getElement().classList.toggle("quiet-label", !shown);
    }
  },

  /**
   * A cluster: its count in full in its sites' highest colour, blinking when any blinks; a click
   * zooms to where it opens up.
   * @param {number} lat @param {number} lon
   * @param {{point_count: number, rank: number, blink: boolean}} p
   * @param {string} lang
   */
  clusterMarker(lat, lon, p, lang) {
    const n = p.point_count, size = clusterSize(n), text = clusterCount(n, lang);
    const m = L.marker([lat, lon], { keyboard: false, icon: L.divIcon({
      html: markup(html`<div title="${t("map.cluster_sites", { n: text })}">${text}</div>`),
      className: "cluster lvl-" + (levelOf(p.rank) || "none") + (p.blink ? " blink" : ""),
      iconSize: [size, size],
    }) });
    m.on("click", () => {
      const zoom = Math.min(this.index.getClusterExpansionZoom(m.options.clusterId), this.leaflet.getMaxZoom());
      this.leaflet.setView(m.getLatLng(), Math.max(zoom, this.leaflet.getZoom() + 1));
    });
    return m;
  },

  /**
   * A site: a dot in its colour, blinking while an orange or red is unacknowledged, its name
   * beside it at close zoom; a click opens it.
   * @param {string} code @param {{rank: number, blink: boolean}} p
   */
  siteMarker(code, p) {
    const site = state.sites.get(code);
    if (!site) return null;
    const [lon, lat] = site.location.coordinates;
    const m = L.marker([lat, lon], { title: site.name, keyboard: false, icon: L.divIcon({
      html: markup(html`<div data-site="${site.code}"></div><span class="site-label">${site.name}</span>`),
      className: "site-marker lvl-" + (levelOf(p.rank) || "none") + (p.blink ? " blink" : ""),
      iconSize: [20, 20],
    }) });
    m.bindTooltip(markup(html`${site.name} · ${t("kind." + site.type)}`));
    m.on("click", () => onSiteClick(site.id));
    return m;
  },

  /** @param {object | null} zone GeoJSON */
  showZone(zone) {
    if (!this.leaflet) return;
    if (this.zone) this.leaflet.removeLayer(this.zone);
    this.zone = zone ? L.geoJSON(zone, { style: { color: "#d81e06", weight: 2, dashArray: "6 4", fillOpacity: 0.15 } }).addTo(this.leaflet) : null;
  },

};
