// @ts-check
// The map's clusters as pure functions: the sites as points for supercluster (vendor/), what a
// cluster carries (its sites' highest level, whether any blinks) and how its count reads.

import { LEVELS, rank } from "./model.js";

/** @typedef {import("../types").Level} Level */

/** Sites closer than this many screen pixels are drawn as one cluster. */
export const RADIUS = 60;
/** The map's farthest zoom: no cluster trees below it. */
export const MIN_ZOOM = 3;
/** The last zoom with clusters: from the next one on every site stands alone. */
export const CLUSTER_MAX_ZOOM = 16;

/**
 * supercluster's options for Leaflet's 256-pixel tiles: each cluster carries the highest level
 * (as a rank) of its sites and whether any of them blinks, summed up once when the index is
 * built, not on every zoom.
 */
export const clusterOptions = () => ({
  radius: RADIUS, extent: 256, minZoom: MIN_ZOOM, maxZoom: CLUSTER_MAX_ZOOM,
  map: (/** @type {{rank: number, blink: boolean}} */ p) => ({ rank: p.rank, blink: p.blink }),
  reduce: (/** @type {{rank: number, blink: boolean}} */ acc, /** @type {{rank: number, blink: boolean}} */ p) => {
    if (p.rank > acc.rank) acc.rank = p.rank;
    if (p.blink) acc.blink = true;
  },
});

/**
 * A site as supercluster's point.
 * @param {import("../types").Site} site
 * @param {{level: Level | null, blink: boolean} | undefined} look its colour (`siteLevels`)
 */
export const sitePoint = (site, look) => ({
  type: "Feature", geometry: { type: "Point", coordinates: site.location.coordinates },
  properties: { code: site.code, rank: rank(look ? look.level : null), blink: !!(look && look.blink) },
});

/** The level of a rank: null below blue. @param {number} r @returns {Level | null} */
export const levelOf = (r) => (r >= 0 ? LEVELS[r] : null);

/** @type {Map<string, Intl.NumberFormat>} */
const formats = new Map();

/** A cluster's count in full, grouped as the language writes numbers: "10,009". @param {number} n @param {string} lang */
export function clusterCount(n, lang) {
  let f = formats.get(lang);
  if (!f) formats.set(lang, (f = new Intl.NumberFormat(lang)));
  return f.format(n);
}

/** The diameter (px) of a cluster's circle, wide enough for its count. @param {number} n */
export const clusterSize = (n) => (n < 100 ? 30 : n < 1000 ? 36 : n < 10000 ? 44 : 54);
