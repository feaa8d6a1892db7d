// @ts-check
// The console's rules about warnings and sites, as pure functions.

/** @typedef {import("../types").Level} Level */
/** @typedef {import("../types").ConsoleWarning} ConsoleWarning */
/** @typedef {import("../types").Site} Site */

/** @type {Level[]} */
export const LEVELS = ["blue", "yellow", "orange", "red"];
export const KINDS = ["landslide", "rockfall", "debris_flow", "subsidence", "fissure"];

/** @param {Level | null | undefined} level */
export const rank = (level) => (level ? LEVELS.indexOf(level) : -1);

/** Open and orange or red: sounds, and shows in the banner. @param {ConsoleWarning} w */
export const urgent = (w) => w.state === "open" && (w.level === "orange" || w.level === "red");

/**
 * The REST API and the live feed describe a warning differently; the console uses one shape.
 * @param {import("../types").Warning} w
 * @returns {ConsoleWarning}
 */
export function fromRest(w) {
  return { id: w.id, site: w.site.code, siteName: w.site.name, division: w.division, source: w.source,
    category: w.category, level: w.level, state: w.state, summary: w.summary, summary_zh: w.summary_zh,
    updated: new Date(w.updated_at).getTime(), raised: new Date(w.raised_at).getTime() };
}

/**
 * @param {import("../types").LiveWarning} w
 * @param {ConsoleWarning | undefined} old what the console had of it
 * @param {Site | undefined} site
 * @returns {ConsoleWarning}
 */
export function fromLive(w, old, site) {
  return { id: w.id, site: w.site, siteName: site ? site.name : w.site, division: w.division, source: w.source,
    category: w.category, level: w.level, state: w.state, summary: w.summary, summary_zh: w.summary_zh, updated: w.at,
    raised: old ? old.raised : w.at, transition: w.transition };
}

/**
 * A site's colour: its highest unclosed warning; blinking while one is urgent.
 * @param {Iterable<ConsoleWarning>} warnings
 * @param {string} code
 */
export function siteLevel(warnings, code) {
  /** @type {Level | null} */
  let best = null;
  let blink = false;
  for (const w of warnings) {
    if (w.site !== code || w.state === "closed") continue;
    if (rank(w.level) > rank(best)) best = w.level;
    if (urgent(w)) blink = true;
  }
  return { level: best, blink };
}

/**
 * Every site's colour at once, in one pass over the warnings (a site without an unclosed warning
 * is absent): what `siteLevel` says for each site, for the map's thousands of sites.
 * @param {Iterable<ConsoleWarning>} warnings
 * @returns {Map<string, {level: Level | null, blink: boolean}>}
 */
export function siteLevels(warnings) {
  /** @type {Map<string, {level: Level | null, blink: boolean}>} */
  const out = new Map();
  for (const w of warnings) {
    if (w.state === "closed") continue;
    let s = out.get(w.site);
    if (!s) out.set(w.site, (s = { level: null, blink: false }));
    if (rank(w.level) > rank(s.level)) s.level = w.level;
    if (urgent(w)) s.blink = true;
  }
  return out;
}

/**
 * Whether division `code` is `division` or lies below it.
 * @param {Map<string, string>} parents
 * @param {string} code
 * @param {string} division
 */
export function inDivision(parents, code, division) {
  for (let c = code; c; c = parents.get(c) || "") if (c === division) return true;
  return false;
}

/** @typedef {{level: string, kind: string, division: string}} Filters */

/**
 * @param {{warnings: Map<number, ConsoleWarning>, parents: Map<string, string>, filters: Filters}} s
 * @param {Site} site
 * @param {Map<string, {level: Level | null}>} [levels] every site's level (`siteLevels`), when
 *   many sites are asked about at once
 */
export function siteVisible(s, site, levels) {
  const f = s.filters;
  if (f.kind && site.type !== f.kind) return false;
  if (f.division && !inDivision(s.parents, site.division.code, f.division)) return false;
  if (f.level) {
    const l = levels ? levels.get(site.code)?.level ?? null : siteLevel(s.warnings.values(), site.code).level;
    if (f.level === "none" ? l : l !== f.level) return false;
  }
  return true;
}

/**
 * @param {{sites: Map<string, Site>, parents: Map<string, string>, filters: Filters}} s
 * @param {ConsoleWarning} w
 */
export function warningVisible(s, w) {
  const f = s.filters;
  const site = s.sites.get(w.site);
  if (f.level && w.level !== f.level) return false;
  if (site && f.kind && site.type !== f.kind) return false;
  if (f.division && !inDivision(s.parents, w.division, f.division)) return false;
  return true;
}
