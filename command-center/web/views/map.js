// @ts-check
// The map: division boundaries, the sites in scope coloured by their warning level (clustered),
// and a warning's threat zone. Every name given to Leaflet goes through `html`.

import { html, markup, render } from "../lib/html.js";
import { rank, siteLevel, siteVisible } from "../lib/model.js";
import { state } from "../lib/store.js";
import { getLang, t } from "../lib/text.js";

/** @typedef {import("../types").Site} Site */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @type {(id: number) => void} */
let onSiteClick = () => {};

/** Bumped whenever a marker's level may have changed: cluster summaries older than it are stale. */
let version = 0;

/**
 * A cluster's highest level and whether anything in it blinks, from its child clusters'
 * summaries (each computed once per version), not from all its markers on every zoom: 10,000
 * sites zoom without stalls.
 * @param {any} c a markercluster cluster
 * @returns {{best: import("../types").Level | null, blink: boolean}}
 */
function clusterSummary(c) {
  if (c._ghVersion === version) return c._ghSummary;
  /** @type {import("../types").Level | null} */
  let best = null;
  let blink = false;
  for (const m of c._markers || []) {
    if (rank(m.options.level) > rank(best)) best = m.options.level;
    blink = blink || m.options.blink;
  }
  for (const k of c._childClusters || []) {
    const s = clusterSummary(k);
    if (rank(s.best) > rank(best)) best = s.best;
    blink = blink || s.blink;
  }
  c._ghVersion = version;
  c._ghSummary = { best, blink };
  return c._ghSummary;
}

/** From this zoom on, each site's name is shown beside its marker. */
export const LABEL_ZOOM = 13;

/** A cluster's count that fits its circle: 9,999, then 1万 / 10K. @param {number} n */
const count = (n) => (n < 10000 ? String(n) : new Intl.NumberFormat(getLang(), { notation: "compact", maximumFractionDigits: 1 }).format(n));

export const map = {
  /** @type {any} */ leaflet: null,
  /** @type {any} */ cluster: null,
  /** @type {Map<string, any>} */ markers: new Map(),
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
    this.leaflet = L.map("map", { zoomControl: true, attributionControl: true, minZoom: 3, maxZoom: 18 }).setView([30.6, 104.0], 6);
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
    this.cluster = L.markerClusterGroup({
      maxClusterRadius: 60, chunkedLoading: true, showCoverageOnHover: false,
      iconCreateFunction: (/** @type {any} */ c) => {
        const { best, blink } = clusterSummary(c);
        const n = c.getChildCount();
        const size = n < 100 ? 30 : n < 10000 ? 38 : 46;
        return L.divIcon({ html: markup(html`<div title="${t("map.cluster_sites", { n })}">${count(n)}</div>`),
          className: "cluster lvl-" + (best || "none") + (blink ? " blink" : ""), iconSize: [size, size] });
      },
    });
    this.leaflet.addLayer(this.cluster);
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
    const m = this.markers.get(code);
    $("site-results").hidden = true;
    if (!site || !m) return;
    const opened = () => {
      onSiteClick(site.id);
      document.dispatchEvent(new CustomEvent("gh:site-found", { detail: { code, zoom: this.leaflet.getZoom() } }));
    };
    this.leaflet.setView(m.getLatLng(), Math.max(this.leaflet.getZoom(), LABEL_ZOOM + 1), { animate: false });
    // Still in a cluster (sites very close together): zoom on until it stands alone.
    if (this.cluster.hasLayer(m)) this.cluster.zoomToShowLayer(m, opened);
    else opened();
  },

  /** @type {HTMLElement | null} */ legend: null,

  drawLegend() {
    if (!this.legend) return;
    render(this.legend, html`${["red", "orange", "yellow", "blue", "none"].map((l) => html`<div><span class="dot lvl-${l}"></span>${t(l === "none" ? "map.legend_none" : "level." + l)}</div>`)}<div><span class="dot lvl-red blink"></span>${t("map.legend_blink")}</div>`);
  },

  /** @param {Site} site */
  icon(site) {
    const { level, blink } = siteLevel(state.warnings.values(), site.code);
    return { level, blink, icon: L.divIcon({
      html: markup(html`<div data-site="${site.code}"></div><span class="site-label">${site.name}</span>`),
      className: "site-marker lvl-" + (level || "none") + (blink ? " blink" : ""),
      iconSize: [20, 20],
    }) };
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
   * Draws the sites: markers are made again only when the sites or the language changed; a
   * filter change adds and removes only the markers whose visibility changed.
   * @param {Set<string>} [what] the store's topics that changed
   */
  setSites(what) {
    if (!this.leaflet) return;
    version++;
    if (!what || what.has("lang")) {
      this.drawLegend();
      /** @type {HTMLInputElement} */ ($("site-search")).placeholder = t("map.search_ph");
    }
    if (!what || what.has("sites") || what.has("lang") || this.markers.size !== state.sites.size) {
      this.markers.clear();
      this.cluster.clearLayers();
      for (const site of state.sites.values()) {
        const [lon, lat] = site.location.coordinates;
        const { icon, level, blink } = this.icon(site);
        const m = L.marker([lat, lon], { icon, level, blink, title: site.name, keyboard: false });
        m.bindTooltip(markup(html`${site.name} · ${t("kind." + site.type)}`));
        m.on("click", () => onSiteClick(site.id));
        this.markers.set(site.code, m);
      }
    }
    const add = [], remove = [], visible = [];
    for (const site of state.sites.values()) {
      const m = this.markers.get(site.code);
      const shownNow = this.cluster.hasLayer(m);
      if (siteVisible(state, site)) {
        visible.push(m);
        if (!shownNow) add.push(m);
      } else if (shownNow) remove.push(m);
    }
    const shown = visible.length;
    if (remove.length > 200) {
      // Removing many markers one by one blocks the page; adding in chunks does not.
      this.cluster.clearLayers();
      this.cluster.addLayers(visible);
    } else {
      if (remove.length) this.cluster.removeLayers(remove);
      if (add.length) this.cluster.addLayers(add);
    }
    $("site-count").textContent = t("feed.sites", { n: shown });
    // First view: the officer's divisions and their sites.
    if (!this.fitted && (shown || (this.boundaries && this.boundaries.getLayers().length))) {
      this.fitted = true;
      const bounds = L.latLngBounds([]);
      if (this.boundaries && this.boundaries.getLayers().length) bounds.extend(this.boundaries.getBounds());
      if (shown) bounds.extend(L.latLngBounds([...this.markers.values()].filter((m) => this.cluster.hasLayer(m)).map((m) => m.getLatLng())));
      this.leaflet.fitBounds(bounds.pad(0.05), { maxZoom: 13 });
    }
  },

  /** A warning changed: recolour that site's marker (and its cluster). @param {string} code */
  refreshSite(code) {
    const m = this.markers.get(code);
    const site = state.sites.get(code);
    if (!m || !site) return;
    const { icon, level, blink } = this.icon(site);
    version++;
    m.options.level = level;
    m.options.blink = blink;
    m.setIcon(icon);
    const visible = siteVisible(state, site);
    if (visible !== this.cluster.hasLayer(m)) visible ? this.cluster.addLayer(m) : this.cluster.removeLayer(m);
    else if (visible) this.cluster.refreshClusters(m);
  },

  /** @param {object | null} zone GeoJSON */
  showZone(zone) {
    if (!this.leaflet) return;
    if (this.zone) this.leaflet.removeLayer(this.zone);
    this.zone = zone ? L.geoJSON(zone, { style: { color: "#d81e06", weight: 2, dashArray: "6 4", fillOpacity: 0.15 } }).addTo(this.leaflet) : null;
  },

};
