// @ts-check
// The live link: warnings as they change, notices from the center, and a resync after any gap.
// Each change is announced with a `gh:warning-shown` event once the console shows it.

import { api, SessionEnded, report, socketUrl } from "../lib/api.js";
import { fromLive, rank, urgent } from "../lib/model.js";
import { changed, state } from "../lib/store.js";
import { t } from "../lib/text.js";
import { alerts } from "./alerts.js";
import { alarm } from "./feed.js";
import { panel } from "./panel.js";
import { openWarning, refreshDeliveries } from "./warning.js";

/** @typedef {import("../types").LiveMessage} LiveMessage */

/** The feeds the console shows: every one the server has (`src/live.rs`, `Feed`). */
const LIVE_FEEDS = ["warnings", "incidents", "deliveries", "field_reports", "patrols", "readings", "notifications"];

export const live = {
  /** @type {WebSocket | null} */ socket: null,
  retry: 500,
  stopped: true,
  /** Reads the server's view again. @type {() => Promise<void>} */
  resync: async () => {},
  /** @type {(message: string) => void} */
  onSessionEnded: () => {},
  /** The sensors whose readings the open site view charts. @type {number[]} */
  watching: [],
  /** Where each watched sensor's pushed readings go. @type {Map<number, (points: import("../types").Point[]) => void>} */
  readings: new Map(),

  /**
   * Asks for the readings of `sensors` as they are stored (and their last 24 h at once).
   * @param {number[]} sensors
   */
  watch(sensors) {
    this.watching = sensors;
    this.send({ type: "watch", sensors });
  },

  start() {
    this.stopped = false;
    this.connect();
  },
  stop() {
    this.stopped = true;
    if (this.socket) this.socket.close();
    this.socket = null;
  },
  connect() {
    if (this.stopped) return;
    const ws = new WebSocket(socketUrl("/live?feeds=" + LIVE_FEEDS.join(",")));
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
  /** @param {object} message */
  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  },
  /** @param {LiveMessage} m */
  async message(m) {
    if (m.type === "ready") {
      this.retry = 500;
      // Whatever changed while the link was down: read it again, no page reload.
      try { await this.resync(); } catch (e) { report(e); return; }
      if (this.watching.length) this.watch(this.watching);
      setLink(true);
    } else if (m.type === "warning") {
      applyWarning(m.warning);
    } else if (m.type === "incident") {
      document.dispatchEvent(new CustomEvent("gh:incident", { detail: { id: m.id } }));
    } else if (m.type === "deliveries") {
      deliveriesChanged(m.warning);
    } else if (m.type === "field_report" || m.type === "patrol") {
      document.dispatchEvent(new CustomEvent("gh:field", { detail: { type: m.type, id: m.id } }));
    } else if (m.type === "resync") {
      await this.resync();
    } else if (m.type === "session_ended") {
      this.onSessionEnded(t("login.expired"));
    } else if (m.type === "readings") {
      const show = this.readings.get(m.sensor);
      if (show) show(m.points);
    } else if (m.type === "notification") {
      this.send({ type: "delivered", id: m.id });
      alerts.show(m, (id) => this.send({ type: "confirmed", id }));
    }
  },
};

/** @param {boolean} up */
export function setLink(up) {
  state.link = up;
  const el = /** @type {HTMLElement} */ (document.getElementById("link"));
  el.className = "link " + (up ? "up" : "down");
  el.textContent = t(up ? "link.up" : "link.down");
  el.title = el.textContent;
  el.dataset.t = up ? "link.up" : "link.down";
}

/** @param {import("../types").LiveWarning} raw */
function applyWarning(raw) {
  const before = state.warnings.get(raw.id);
  const w = fromLive(raw, before, state.sites.get(raw.site));
  state.warnings.set(w.id, w);
  if (urgent(w) && !(before && urgent(before) && rank(before.level) >= rank(w.level))) alarm.beep();
  state.dirtySites.add(w.site);
  changed("warnings");
  document.dispatchEvent(new CustomEvent("gh:warning-shown", { detail: { id: w.id, level: w.level, state: w.state } }));
  if (panel.warning === w.id) openWarning(w.id);
}

/** Warnings whose deliveries changed, re-read together a moment later (a burst of receipts is one read). @type {Set<number>} */
const deliveriesDue = new Set();
/** @type {ReturnType<typeof setTimeout> | null} */
let deliveriesTimer = null;

/**
 * A warning's deliveries changed in the store: the open panel re-reads it.
 * @param {number} id
 */
function deliveriesChanged(id) {
  deliveriesDue.add(id);
  if (deliveriesTimer) return;
  deliveriesTimer = setTimeout(() => {
    deliveriesTimer = null;
    const due = [...deliveriesDue];
    deliveriesDue.clear();
    if (panel.warning !== null && due.includes(panel.warning)) refreshDeliveries(panel.warning);
    for (const warning of due) document.dispatchEvent(new CustomEvent("gh:deliveries", { detail: { id: warning } }));
  }, 300);
}
