// @ts-check
// The map: division boundaries, the sites in scope coloured by their warning level (clustered),
// and a warning's threat zone. Every name given to Leaflet goes through `html`.

import { html, markup } from "../lib/html.js";
import { rank, siteLevel, siteVisible } from "../lib/model.js";
import { state } from "../lib/store.js";
import { t } from "../lib/text.js";

/** @typedef {import("../types").Site} Site */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @type {(id: number) => void} */
let onSiteClick = () => {};

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
        /** @type {import("../types").Level | null} */
        let best = null;
        let blink = false;
        for (const m of c.getAllChildMarkers()) {
          if (rank(m.options.level) > rank(best)) best = m.options.level;
          blink = blink || m.options.blink;
        }
        return L.divIcon({ html: markup(html`<div>${c.getChildCount()}</div>`), className: "cluster lvl-" + (best || "none") + (blink ? " blink" : ""), iconSize: [30, 30] });
      },
    });
    this.leaflet.addLayer(this.cluster);
  },

  /** @param {Site} site */
  icon(site) {
    const { level, blink } = siteLevel(state.warnings.values(), site.code);
    return { level, blink, icon: L.divIcon({
      html: markup(html`<div data-site="${site.code}"></div>`),
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

  setSites() {
    if (!this.leaflet) return;
    const markers = [];
    this.markers.clear();
    this.cluster.clearLayers();
    for (const site of state.sites.values()) {
      const [lon, lat] = site.location.coordinates;
      const { icon, level, blink } = this.icon(site);
      const m = L.marker([lat, lon], { icon, level, blink, title: site.name, keyboard: false });
      m.bindTooltip(markup(html`${site.name} · ${t("kind." + site.type)}`));
      m.on("click", () => onSiteClick(site.id));
      this.markers.set(site.code, m);
      if (siteVisible(state, site)) markers.push(m);
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

  /** A warning changed: recolour that site's marker (and its cluster). @param {string} code */
  refreshSite(code) {
    const m = this.markers.get(code);
    const site = state.sites.get(code);
    if (!m || !site) return;
    const { icon, level, blink } = this.icon(site);
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
