// @ts-check
// What the console knows, in one place; views subscribe to the parts they show and are told
// when those change.

/** @typedef {import("../types").ConsoleWarning} ConsoleWarning */
/** @typedef {import("../types").Site} Site */
/** @typedef {import("../types").Division} Division */
/** @typedef {"sites" | "warnings" | "divisions" | "filters" | "lang" | "link" | "officer"} Topic */

export const state = {
  /** @type {Map<string, Site>} code → site */
  sites: new Map(),
  /** @type {Map<number, ConsoleWarning>} id → warning */
  warnings: new Map(),
  /** @type {Division[]} */
  divisions: [],
  /** @type {Map<string, string>} division code → parent code */
  parents: new Map(),
  filters: { level: "", kind: "", division: "" },
  /** @type {import("../types").Officer | null} */
  officer: null,
  link: false,
  /** Sites whose warnings changed since the map last looked. @type {Set<string>} */
  dirtySites: new Set(),
};

/** @type {Map<Topic, Set<(changed: Set<Topic>) => void>>} */
const subscribers = new Map();

/**
 * Calls `fn` whenever one of `topics` changes.
 * @param {Topic[]} topics
 * @param {(changed: Set<Topic>) => void} fn
 */
export function subscribe(topics, fn) {
  for (const topic of topics) {
    if (!subscribers.has(topic)) subscribers.set(topic, new Set());
    subscribers.get(topic)?.add(fn);
  }
}

/**
 * Tells the subscribers of `topics` (each once, however many of its topics changed).
 * @param {...Topic} topics
 */
export function changed(...topics) {
  const set = new Set(topics);
  /** @type {Set<(changed: Set<Topic>) => void>} */
  const told = new Set();
  for (const topic of topics) for (const fn of subscribers.get(topic) || []) told.add(fn);
  for (const fn of told) fn(set);
}
