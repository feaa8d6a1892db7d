// @ts-check
// Texts and numbers for a person: the message catalogue (zh-CN first, English second) that the
// command-center serves from crates/domain/messages/*.json, and the formats of times and values.

/** @typedef {import("../types").Lang} Lang */
/** @typedef {import("../types").Catalogue} Catalogue */

/** @type {Catalogue} */
let messages = {};
/** @type {Lang} */
let lang = "zh-CN";

/** @param {Catalogue} catalogue */
export function setMessages(catalogue) {
  messages = catalogue;
}
/** @param {Lang} l */
export function setLang(l) {
  lang = l;
}
/** @returns {Lang} */
export function getLang() {
  return lang;
}

/**
 * The text of `key` in the console's language (Chinese when English lacks it), with `{name}`
 * replaced from `params`. A key the catalogue lacks shows as ⟦key⟧ and is reported with a
 * `gh:missing-text` event, so it cannot pass unseen.
 * @param {string} key
 * @param {Record<string, string | number>} [params]
 */
export function t(key, params) {
  const m = messages[key];
  let s = m && (m[lang] || m["zh-CN"]);
  if (!s) {
    if (typeof document !== "undefined") document.dispatchEvent(new CustomEvent("gh:missing-text", { detail: { key } }));
    return "⟦" + key + "⟧";
  }
  if (params) for (const [k, v] of Object.entries(params)) s = s.split("{" + k + "}").join(String(v));
  return s;
}

/**
 * A warning's line in the console's language: the analyzer writes it in both (older warnings
 * have English only).
 * @param {{summary: string, summary_zh?: string | null}} w
 */
export function summaryOf(w) {
  return lang === "zh-CN" && w.summary_zh ? w.summary_zh : w.summary;
}

/**
 * What raised a warning, in words: `threshold:gw-01/p-1` → "阈值 · gw-01/p-1",
 * `device:silent:gateway:gw-01` → "设备静默 · 网关 gw-01" (grammar in WarningSource).
 * @param {string} source
 */
export function sourceText(source) {
  const parts = String(source || "").split(":");
  if (parts[0] === "site") return t("source.combined");
  if (parts[0] === "device") {
    const what = parts[2] === "gateway" ? t("source.gateway", { g: parts[3] }) : parts.slice(2).join(":");
    return t("source.device." + parts[1]) + " · " + what;
  }
  return t("source." + parts[0]) + " · " + parts.slice(1).join(":");
}

/**
 * Fixed decimals without trailing zeros: 35.200 → 35.2, 30.000 → 30, 100 → 100.
 * @param {number | string | null | undefined} x
 * @param {number} [d]
 */
export function num(x, d = 2) {
  if (x === null || x === undefined || x === "" || Number.isNaN(Number(x))) return t("common.none");
  return Number(x).toFixed(d).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
}

/** The agency's time zone (console settings); every time shown is in it. */
let zone = "Asia/Shanghai";

/** @param {string} tz an IANA name; one the browser does not know leaves the zone as it was */
export function setTimeZone(tz) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    zone = tz;
  } catch (_) { /* unknown zone: keep the default */ }
}
export const timeZone = () => zone;

/** Whether the catalogue has `key`. @param {string} key */
export const hasText = (key) => !!messages[key];

/** The zone's name for a person: "北京时间" from the catalogue, else the browser's short name. */
export function zoneLabel() {
  if (hasText("zone." + zone)) return t("zone." + zone);
  const part = new Intl.DateTimeFormat(lang, { timeZone: zone, timeZoneName: "short" }).formatToParts(new Date())
    .find((p) => p.type === "timeZoneName");
  return part ? part.value : zone;
}

/**
 * A time in the agency's zone (not the PC's), 24-hour clock, labelled with the zone.
 * @param {string | number | null | undefined} ts
 */
export function fmtTime(ts) {
  if (ts === null || ts === undefined) return t("common.none");
  return new Date(ts).toLocaleString(lang, { timeZone: zone, hour12: false, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }) + " " + zoneLabel();
}

/**
 * The instant of a wall-clock time typed in the agency's zone (`2026-12-07 08:00`), as RFC 3339;
 * what is not such a time is sent as typed, for the server to name the field.
 * @param {string} typed
 */
export function zonedInstant(typed) {
  const m = typed.trim().match(/^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})$/);
  if (!m) return typed.trim();
  const [y, mo, da, h, mi] = m.slice(1).map(Number);
  const asUtc = Date.UTC(y, mo - 1, da, h, mi);
  // The zone's offset at about that instant: its wall clock read back as UTC, minus the instant.
  const p = wallClock(asUtc);
  const offset = Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute) - asUtc;
  return new Date(asUtc - offset).toISOString();
}

/** The agency's wall clock at an instant. @param {number} ms */
function wallClock(ms) {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).formatToParts(new Date(ms));
  /** @param {string} type */
  const p = (type) => Number(parts.find((x) => x.type === type)?.value || 0);
  return { year: p("year"), month: p("month"), day: p("day"), hour: p("hour"), minute: p("minute") };
}

/**
 * A time as typed in the agency's zone (`2026-12-07 08:00`), the inverse of `zonedInstant`.
 * @param {number} ms
 */
export function zonedTyped(ms) {
  const c = wallClock(ms);
  const two = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${c.year}-${two(c.month)}-${two(c.day)} ${two(c.hour % 24)}:${two(c.minute)}`;
}

/**
 * Part of a time in the agency's zone, without the label (chart axes, whose title carries it).
 * @param {number} ms
 * @param {Intl.DateTimeFormatOptions} opts
 */
export function zoned(ms, opts) {
  return new Date(ms).toLocaleString(lang, { ...opts, timeZone: zone, hourCycle: "h23" });
}

/** The hour of the day (0–23) in the agency's zone. @param {number} ms */
export function zoneHour(ms) {
  const part = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", hourCycle: "h23" }).formatToParts(new Date(ms))
    .find((p) => p.type === "hour");
  return Number(part ? part.value : 0) % 24;
}

/**
 * How long ago, in words.
 * @param {string | null | undefined} ts
 * @param {number} [now] milliseconds since the epoch
 */
export function ago(ts, now = Date.now()) {
  if (!ts) return t("health.never");
  const s = Math.max(0, Math.round((now - new Date(ts).getTime()) / 1000));
  if (s < 60) return t("time.ago_s", { n: s });
  if (s < 3600) return t("time.ago_m", { n: Math.round(s / 60) });
  if (s < 86400) return t("time.ago_h", { n: Math.round(s / 3600) });
  return t("time.ago_d", { n: Math.round(s / 86400) });
}

/** @param {number} h */
export const hours = (h) => t("ev.hours", { n: num(h, 1) });
