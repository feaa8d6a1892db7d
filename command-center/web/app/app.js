// @ts-check
// The field app for field staff and village monitors: sign-in, the alerts the center sends
// (the app channel's client: a receipt on arrival, a confirmation when pressed), their tasks
// with status updates, their position while on a task, rapid hazard reports with a photo and
// the patrol checklists of the sites they patrol. It works on a bad link: the last
// alerts and tasks are kept on the phone and shown without a network, and every change is put
// in a queue on the phone first and sent with an Idempotency-Key until the server has it, so a
// change sent twice (an answer lost on the way back) is done once.

import { html, render } from "../lib/html.js";
import { fmtTime, getLang, setLang, setMessages, t } from "../lib/text.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/** @typedef {{id: number, level: string | null, task_id?: number | null, text_zh: string, text_en: string, created_at: string, confirmed?: boolean}} Alert */
/** @typedef {{id: number, incident_title: string, title: string, status: string, team_name: string, decline_reason: string | null, deadline: string | null, site_name: string | null, updated_at: string}} Task */
/** @typedef {{key: string, path: string, body: any}} Queued */
/** @typedef {{site_id: number, site_code: string, site_name: string, items: string[], due_hours: number | null, last_at: string | null, next_due_at: string | null, done: boolean, overdue: boolean}} Schedule */

/** What the phone keeps between visits (localStorage). */
const kept = {
  /** @param {string} name @param {any} fallback */
  get(name, fallback) {
    try { const v = localStorage.getItem("gh.app." + name); return v === null ? fallback : JSON.parse(v); } catch (_) { return fallback; }
  },
  /** @param {string} name @param {any} value */
  set(name, value) { localStorage.setItem("gh.app." + name, JSON.stringify(value)); },
};

const app = {
  /** @type {string | null} */ csrf: null,
  /** @type {{username: string, display_name: string, role: string} | null} */ officer: kept.get("officer", null),
  /** @type {Alert[]} */ alerts: kept.get("alerts", []),
  /** @type {Task[]} */ tasks: kept.get("tasks", []),
  /** @type {WebSocket | null} */ socket: null,
  online: false,
  sending: false,
  /** @type {number} */ lastPositionAt: 0,
  /** The phone's latest fix. @type {{longitude: number, latitude: number, accuracy_m: number, at: number} | null} */ fix: null,
  /** The sites this person patrols, as last read. @type {Schedule[]} */ schedules: kept.get("schedules", []),
  /** The patrol being filled in: its site and answers. @type {{site: number, answers: Record<string, {ok: boolean | null, note: string}>} | null} */ patrol: null,
  /** Open consultation rooms this person may enter. @type {{id: number, title: string, division_name: string, state: string}[]} */ rooms: [],
};

/** The kinds of a rapid report (crates/incidents: ReportKind). */
const KINDS = ["landslide", "rockfall", "debris_flow", "subsidence", "ground_fissure", "other"];
/** The longest side of a photo as sent, pixels; the server takes at most 1 MiB. */
const PHOTO_SIDE = 1600;

/** The next statuses a person may move a task to, as the server's state machine allows. */
const NEXT = /** @type {Record<string, string[]>} */ ({
  assigned: ["accepted", "declined"],
  accepted: ["en_route", "on_site"],
  en_route: ["on_site"],
  on_site: ["done"],
});
const ACTIVE = ["accepted", "en_route", "on_site"];

function applyTexts() {
  document.documentElement.lang = getLang();
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("[data-t]"))) el.textContent = t(el.dataset.t || "");
}

/** @param {boolean} up */
function setNet(up) {
  app.online = up;
  const el = $("net");
  el.className = "net " + (up ? "up" : "down");
  el.textContent = t(up ? "fieldapp.online" : "fieldapp.offline");
}

// ---- the queue: every change goes here first ---------------------------------------------
/** @returns {Queued[]} */
const queued = () => kept.get("queue", []);

/**
 * Puts a change in the phone's queue and tries to send it. False when the phone could not keep
 * it (its storage is full: photos take room), so that nothing is taken for sent that is not kept.
 * @param {string} path @param {any} body
 */
function enqueue(path, body) {
  const q = queued();
  q.push({ key: crypto.randomUUID(), path, body });
  try {
    kept.set("queue", q);
  } catch (_) {
    say(t("fieldapp.storage_full"), true);
    return false;
  }
  renderQueue();
  flush();
  return true;
}

function renderQueue() {
  const n = queued().length;
  $("queue").hidden = n === 0;
  $("queue").textContent = t("fieldapp.queued", { n });
  $("queue").dataset.count = String(n);
}

/** Sends what is queued, oldest first, until the link fails. */
async function flush() {
  if (app.sending) return;
  app.sending = true;
  try {
    // Nothing is sent without the session's CSRF token (a refused send would look like a lost one).
    if (!app.csrf && queued().length && (await whoAmI()) !== "ok") return;
    for (;;) {
      const q = queued();
      if (!q.length) break;
      const item = q[0];
      /** @type {Response} */
      let r;
      try {
        /** @type {Record<string, string>} */
        const headers = { "content-type": "application/json", "idempotency-key": item.key };
        if (app.csrf) headers["x-csrf-token"] = app.csrf;
        r = await fetch("/api/v1" + item.path, { method: "POST", headers, body: JSON.stringify(item.body), credentials: "same-origin" });
      } catch (_) {
        setNet(false);
        break; // No link: kept, sent when it returns.
      }
      setNet(true);
      if (r.status === 401) { showLogin(t("login.expired")); break; }
      // Busy or failing: later, with the same key.
      if (r.status >= 500 || r.status === 429 || r.status === 408) break;
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        document.dispatchEvent(new CustomEvent("gh:error", { detail: { message: refusal(r.status, body.error || r.statusText) } }));
      }
      kept.set("queue", queued().filter((x) => x.key !== item.key));
      renderQueue();
      document.dispatchEvent(new CustomEvent("gh:sent", { detail: { path: item.path, status: r.status } }));
    }
  } finally {
    app.sending = false;
  }
  loadTasks();
}

/** Why the server refused a change, for the person. @param {number} status @param {string} detail */
function refusal(status, detail) {
  if (status === 413) return t("fieldapp.refused.too_large");
  if (status === 415) return t("fieldapp.refused.not_image");
  if (status === 404) return t("fieldapp.refused.not_found");
  return t("fieldapp.refused", { detail });
}

// ---- what the server says ------------------------------------------------------------------
/** @returns {Promise<"ok" | "signed-out" | "offline">} */
async function whoAmI() {
  try {
    const r = await fetch("/api/v1/me", { credentials: "same-origin" });
    if (r.status === 401) return "signed-out";
    if (!r.ok) return "offline";
    const me = await r.json();
    app.csrf = me.csrf_token;
    app.officer = { username: me.username, display_name: me.display_name, role: me.role };
    kept.set("officer", app.officer);
    setNet(true);
    return "ok";
  } catch (_) {
    return "offline";
  }
}

async function loadTasks() {
  try {
    const r = await fetch("/api/v1/tasks", { credentials: "same-origin" });
    if (!r.ok) return;
    app.tasks = await r.json();
    // What the phone changed and has not sent yet shows over what the server says.
    for (const item of queued()) {
      const m = /^\/tasks\/(\d+)\/status$/.exec(item.path);
      const task = m && app.tasks.find((k) => k.id === Number(m[1]));
      if (task) task.status = item.body.status;
    }
    kept.set("tasks", app.tasks);
    setNet(true);
  } catch (_) {
    setNet(false);
  }
  renderTasks();
  loadSchedules();
  loadRooms();
}

/** The consultation rooms open to this person (field staff; a village monitor is not asked). */
async function loadRooms() {
  try {
    const r = await fetch("/api/v1/consult/rooms", { credentials: "same-origin" });
    app.rooms = r.ok ? (await r.json()).filter((/** @type {{state: string}} */ room) => room.state === "open") : [];
  } catch (_) { /* offline: the rooms need the link anyway */ }
  renderRooms();
}

/** Each open room, entered in the console's consultation page (laid out for a phone). */
function renderRooms() {
  const box = $("rooms");
  $("rooms-title").hidden = box.hidden = !app.rooms.length;
  render(box, html`${app.rooms.map((/** @type {{id: number, title: string, division_name: string}} */ room) => html`<div class="card room" data-room="${room.id}">
    <b>${room.title}</b> <span class="meta">${room.division_name}</span>
    <a class="big button" href="/?page=consult&room=${room.id}">${t("fieldapp.consult_enter")}</a></div>`)}`);
}

async function loadSchedules() {
  try {
    const r = await fetch("/api/v1/patrol-schedules?mine=true", { credentials: "same-origin" });
    if (!r.ok) return;
    app.schedules = await r.json();
    kept.set("schedules", app.schedules);
  } catch (_) { /* the kept ones */ }
  renderPatrols();
  renderSites();
}

// ---- the live link: alerts ---------------------------------------------------------------
function connect() {
  // Only what the app shows: its person's notifications, and incident changes (its tasks are
  // re-read). Not every warning change in scope: that is the console's.
  const ws = new WebSocket((location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/api/v1/live?feeds=notifications,incidents");
  app.socket = ws;
  ws.onopen = () => setNet(true);
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "notification") {
      ws.send(JSON.stringify({ type: "delivered", id: m.id }));
      if (!app.alerts.some((a) => a.id === m.id)) {
        app.alerts.unshift({ id: m.id, level: m.level, task_id: m.task_id, text_zh: m.text_zh, text_en: m.text_en, created_at: m.created_at });
        app.alerts = app.alerts.slice(0, 50);
        kept.set("alerts", app.alerts);
        if (navigator.vibrate) navigator.vibrate([300, 100, 300]);
      }
      renderAlerts();
    } else if (m.type === "incident" || m.type === "ready") {
      loadTasks();
      flush();
    } else if (m.type === "session_ended") {
      showLogin(t("login.expired"));
    }
  };
  ws.onclose = () => {
    if (app.socket !== ws) return;
    app.socket = null;
    setNet(false);
    setTimeout(() => { if (app.officer && !$("main").hidden) connect(); }, 2000);
  };
}

/** @param {number} id */
function confirmAlert(id) {
  if (!app.socket || app.socket.readyState !== WebSocket.OPEN) return;
  app.socket.send(JSON.stringify({ type: "confirmed", id }));
  const a = app.alerts.find((x) => x.id === id);
  if (a) a.confirmed = true;
  kept.set("alerts", app.alerts);
  renderAlerts();
}

// ---- position while on a task --------------------------------------------------------------
/** @param {GeolocationPosition} p */
function onPosition(p) {
  app.fix = { longitude: p.coords.longitude, latitude: p.coords.latitude, accuracy_m: p.coords.accuracy, at: Date.now() };
  renderWhere();
  const task = app.tasks.find((k) => ACTIVE.includes(k.status));
  if (!task) return;
  const now = Date.now();
  if (now - app.lastPositionAt < 3000) return;
  app.lastPositionAt = now;
  enqueue("/positions", { longitude: p.coords.longitude, latitude: p.coords.latitude, accuracy_m: p.coords.accuracy, task: task.id });
}

function watchPosition() {
  if (!navigator.geolocation) return;
  navigator.geolocation.watchPosition(onPosition, () => {}, { enableHighAccuracy: true, maximumAge: 5000 });
}

/** Where the phone is: its latest fix of the last two minutes, else a new one. @returns {Promise<{longitude: number, latitude: number, accuracy_m: number} | null>} */
function here() {
  if (app.fix && Date.now() - app.fix.at < 120000) return Promise.resolve(app.fix);
  return new Promise((resolve) => {
    if (!navigator.geolocation) { resolve(null); return; }
    navigator.geolocation.getCurrentPosition(
      (p) => { onPosition(p); resolve(app.fix); },
      () => resolve(null),
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  });
}

// ---- photos: scaled down on the phone, JPEG ---------------------------------------------------
/** The photo of a file input as a base64 JPEG of at most PHOTO_SIDE pixels a side, or null. @param {HTMLInputElement} el */
async function photoOf(el) {
  const file = el.files && el.files[0];
  if (!file) return null;
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  for (const quality of [0.8, 0.6, 0.4]) {
    const url = canvas.toDataURL("image/jpeg", quality);
    const data = url.slice(url.indexOf(",") + 1);
    if (data.length * 0.75 < 1000 * 1024) return data;
  }
  return null;
}

// ---- rapid reports ---------------------------------------------------------------------------
function renderWhere() {
  const el = document.getElementById("report-where");
  if (!el) return;
  el.textContent = app.fix ? t("fieldapp.where", { lon: app.fix.longitude.toFixed(5), lat: app.fix.latitude.toFixed(5), acc: Math.round(app.fix.accuracy_m) }) : t("fieldapp.where_unknown");
}

function renderSites() {
  const select = /** @type {HTMLSelectElement} */ ($("report-site"));
  const chosen = select.value;
  render(select, html`<option value="">${t("fieldapp.report_no_site")}</option>${app.schedules.map((s) => html`<option value="${s.site_id}">${s.site_name} (${s.site_code})</option>`)}`);
  select.value = chosen;
  const kind = /** @type {HTMLSelectElement} */ ($("report-kind"));
  const k = kind.value;
  render(kind, html`${KINDS.map((x) => html`<option value="${x}">${t("field.kind." + x)}</option>`)}`);
  if (k) kind.value = k;
}

$("report-open").addEventListener("click", () => {
  $("report-form").hidden = false;
  $("report-open").hidden = true;
  renderSites();
  renderWhere();
  here();
});

$("report-cancel").addEventListener("click", () => {
  /** @type {HTMLFormElement} */ ($("report-form")).reset();
  previewPhoto("report-photo", "report-preview");
  $("report-form").hidden = true;
  $("report-open").hidden = false;
});

$("report-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const where = await here();
  if (!where) { say(t("fieldapp.where_unknown"), true); return; }
  /** @type {string | null} */
  let photo = null;
  try { photo = await photoOf(input("report-photo")); } catch (_) { say(t("fieldapp.refused.not_image"), true); return; }
  const site = /** @type {HTMLSelectElement} */ ($("report-site")).value;
  const body = {
    site: site ? Number(site) : null,
    kind: /** @type {HTMLSelectElement} */ ($("report-kind")).value,
    text: /** @type {HTMLTextAreaElement} */ ($("report-text")).value.trim(),
    people_at_risk: Math.max(0, Math.floor(Number(input("report-people").value) || 0)),
    longitude: where.longitude, latitude: where.latitude, accuracy_m: where.accuracy_m,
    photos: photo ? [photo] : [],
  };
  if (!body.text) { say(t("fieldapp.report_text_needed"), true); return; }
  // The form stays filled in when the phone could not keep the report.
  if (!enqueue("/field-reports", body)) return;
  /** @type {HTMLFormElement} */ ($("report-form")).reset();
  previewPhoto("report-photo", "report-preview");
  $("report-form").hidden = true;
  $("report-open").hidden = false;
  say(t("fieldapp.report_queued"));
});

/** A line for the person under their tasks. @param {string} text @param {boolean} [bad] */
function say(text, bad = false) {
  $("app-msg").textContent = text;
  $("app-msg").className = "note" + (bad ? " bad" : "");
}
document.addEventListener("gh:error", (ev) => say(/** @type {CustomEvent} */ (ev).detail.message, true));

/** Shows the chosen photo under the picker, and how it is named. @param {string} inputId @param {string} imgId */
function previewPhoto(inputId, imgId) {
  const el = input(inputId);
  const img = /** @type {HTMLImageElement | null} */ (document.getElementById(imgId));
  if (!img) return;
  const file = el.files && el.files[0];
  if (img.src) URL.revokeObjectURL(img.src);
  img.hidden = !file;
  if (file) img.src = URL.createObjectURL(file);
  else img.removeAttribute("src");
}
$("report-photo").addEventListener("change", () => previewPhoto("report-photo", "report-preview"));
document.addEventListener("gh:sent", (ev) => {
  const d = /** @type {CustomEvent} */ (ev).detail;
  if (d.status === 201 && d.path === "/field-reports") say(t("fieldapp.report_sent"));
  if (d.status === 201 && d.path === "/patrols") say(t("fieldapp.patrol_sent"));
});

// ---- patrols ---------------------------------------------------------------------------------
function renderPatrols() {
  const p = app.patrol;
  render($("patrols"), app.schedules.length ? html`${app.schedules.map((s) => html`<div class="card" data-schedule="${s.site_id}">
      <div><b>${s.site_name}</b> <span class="meta">${s.site_code}</span></div>
      <div class="meta ${s.overdue ? "due-overdue" : s.done ? "due-done" : ""}">${s.due_hours === null ? t("field.patrol.not_due")
        : s.overdue ? t("field.patrol.overdue") : s.done ? t("field.patrol.done") : t("field.patrol.pending")}${s.next_due_at ? " · " + t("field.next_due") + " " + fmtTime(s.next_due_at) : ""}</div>
      ${p && p.site === s.site_id ? html`<div id="checklist">${s.items.map((item) => html`<div class="check" data-item="${item}">
          <b>${t("field.item." + item)}</b>
          <button type="button" class="${p.answers[item].ok === true ? "on ok" : ""}" data-answer="ok" data-for="${item}">${t("fieldapp.item_ok")}</button>
          <button type="button" class="${p.answers[item].ok === false ? "on bad" : ""}" data-answer="bad" data-for="${item}">${t("fieldapp.item_bad")}</button>
        </div>`)}
        <label><span data-t="fieldapp.patrol_note">${t("fieldapp.patrol_note")}</span><textarea id="patrol-note" rows="2" maxlength="2000"></textarea></label>
        <label class="photo-pick"><input id="patrol-photo" type="file" accept="image/jpeg,image/png" capture="environment"><span class="pick">${t("fieldapp.photo")}</span><img id="patrol-preview" alt="" hidden></label>
        <button type="button" class="big primary" id="patrol-send">${t("fieldapp.patrol_send")}</button>
        <button type="button" class="big" id="patrol-cancel">${t("fieldapp.cancel")}</button></div>`
        : html`<button type="button" class="big primary" data-patrol="${s.site_id}">${t("fieldapp.patrol_start")}</button>`}
    </div>`)}` : html`<p>${t("fieldapp.no_patrols")}</p>`);
  for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ ($("patrols").querySelectorAll("[data-patrol]"))) {
    b.addEventListener("click", () => {
      const s = app.schedules.find((x) => x.site_id === Number(b.dataset.patrol));
      if (!s) return;
      app.patrol = { site: s.site_id, answers: Object.fromEntries(s.items.map((i) => [i, { ok: null, note: "" }])) };
      renderPatrols();
      here();
    });
  }
  for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ ($("patrols").querySelectorAll("[data-answer]"))) {
    b.addEventListener("click", () => {
      if (!app.patrol) return;
      const ok = b.dataset.answer === "ok";
      app.patrol.answers[b.dataset.for || ""].ok = ok;
      // In place: what is typed and the photo chosen stay.
      for (const other of /** @type {NodeListOf<HTMLButtonElement>} */ ($("patrols").querySelectorAll(`[data-for="${b.dataset.for}"]`))) {
        const on = (other.dataset.answer === "ok") === ok;
        other.className = on ? "on " + (ok ? "ok" : "bad") : "";
      }
    });
  }
  document.getElementById("patrol-cancel")?.addEventListener("click", () => { app.patrol = null; renderPatrols(); });
  document.getElementById("patrol-send")?.addEventListener("click", sendPatrol);
  document.getElementById("patrol-photo")?.addEventListener("change", () => previewPhoto("patrol-photo", "patrol-preview"));
}

async function sendPatrol() {
  const p = app.patrol;
  if (!p) return;
  const answers = Object.entries(p.answers);
  if (answers.some(([, a]) => a.ok === null)) { say(t("fieldapp.patrol_unanswered"), true); return; }
  const where = await here();
  if (!where) { say(t("fieldapp.where_unknown"), true); return; }
  /** @type {string | null} */
  let photo = null;
  try { photo = await photoOf(input("patrol-photo")); } catch (_) { say(t("fieldapp.refused.not_image"), true); return; }
  const note = /** @type {HTMLTextAreaElement} */ ($("patrol-note")).value.trim();
  const sent = enqueue("/patrols", { site: p.site, answers: answers.map(([item, a]) => ({ item, ok: a.ok, note: a.note })), note,
    longitude: where.longitude, latitude: where.latitude, accuracy_m: where.accuracy_m, photos: photo ? [photo] : [] });
  if (!sent) return;
  app.patrol = null;
  const s = app.schedules.find((x) => x.site_id === p.site);
  if (s) {
    // Shown at once; the queue delivers it and the next read confirms it.
    s.done = true; s.overdue = false; s.last_at = new Date().toISOString();
    if (s.due_hours !== null) s.next_due_at = new Date(Date.now() + s.due_hours * 3600e3).toISOString();
    kept.set("schedules", app.schedules);
  }
  renderPatrols();
  say(t("fieldapp.patrol_queued"));
}

// ---- drawing -------------------------------------------------------------------------------
function renderAlerts() {
  const text = (/** @type {Alert} */ a) => (getLang() === "zh-CN" ? a.text_zh || a.text_en : a.text_en || a.text_zh);
  render($("alerts"), app.alerts.length ? html`${app.alerts.slice(0, 10).map((a) => html`<div class="card lvl-${a.level || "none"}" data-alert="${a.id}">
      <div class="meta">${a.level ? t("level." + a.level) : t(a.task_id ? "fieldapp.alert_task" : "fieldapp.alert_other")} · ${fmtTime(a.created_at)}</div><div>${text(a)}</div>
      ${a.confirmed ? html`<p class="state" data-confirmed="1">${t("alert.confirmed")}</p>` : html`<button type="button" class="big primary" data-confirm="${a.id}">${t("alert.confirm")}</button>`}</div>`)}`
    : html`<p>${t("fieldapp.no_alerts")}</p>`);
  for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ ($("alerts").querySelectorAll("[data-confirm]"))) b.addEventListener("click", () => confirmAlert(Number(b.dataset.confirm)));
}

function renderTasks() {
  render($("tasks"), app.tasks.length ? html`${app.tasks.map((k) => html`<div class="card" data-task="${k.id}" data-status="${k.status}">
      <div><b>${k.title}</b></div>
      <div class="meta">${k.incident_title}${k.site_name ? " · " + k.site_name : ""} · ${k.team_name}</div>
      <div class="meta">${t("fieldapp.updated")} ${fmtTime(k.updated_at)}${k.deadline ? " · " + t("fieldapp.deadline") + " " + fmtTime(k.deadline) : ""}</div>
      <p><span class="state">${t("incidents.task." + k.status)}</span>${k.decline_reason ? " · " + k.decline_reason : ""}</p>
      ${(NEXT[k.status] || []).map((s) => html`<button type="button" class="big${s === "declined" ? "" : " primary"}" data-move="${s}" data-for="${k.id}">${t("fieldapp.move." + s)}</button>`)}
      ${ACTIVE.includes(k.status) ? html`<button type="button" class="big" data-here="${k.id}">${t("fieldapp.report_position")}</button>` : ""}
    </div>`)}` : html`<p>${t("fieldapp.no_tasks")}</p>`);
  for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ ($("tasks").querySelectorAll("[data-move]"))) {
    b.addEventListener("click", () => {
      const status = b.dataset.move;
      /** @type {{status: string | undefined, reason?: string}} */
      const body = { status };
      if (status === "declined") {
        const reason = prompt(t("fieldapp.decline_reason"));
        if (!reason || !reason.trim()) return;
        body.reason = reason.trim();
      }
      b.disabled = true;
      // Shown at once; the queue delivers it.
      const task = app.tasks.find((k) => k.id === Number(b.dataset.for));
      if (task && status) { task.status = status; kept.set("tasks", app.tasks); }
      enqueue("/tasks/" + b.dataset.for + "/status", body);
      renderTasks();
    });
  }
  for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ ($("tasks").querySelectorAll("[data-here]"))) {
    b.addEventListener("click", () => {
      navigator.geolocation?.getCurrentPosition((p) => {
        app.lastPositionAt = 0;
        onPosition(p);
      });
    });
  }
}

function renderAll() {
  applyTexts();
  const o = app.officer;
  $("who").textContent = o ? t("fieldapp.who", { name: o.display_name || o.username, role: t("fieldapp.role." + o.role) }) : "";
  renderAlerts();
  renderTasks();
  renderQueue();
  renderPatrols();
  renderSites();
  renderWhere();
}

// ---- sign-in -------------------------------------------------------------------------------
/** @param {string} message */
function showLogin(message) {
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-msg").textContent = message;
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const r = await fetch("/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, credentials: "same-origin",
      body: JSON.stringify({ username: input("login-user").value, password: input("login-pass").value, cookie: true }) });
    if (!r.ok) { $("login-msg").textContent = t(r.status === 429 ? "login.throttled" : "login.failed"); return; }
    const body = await r.json();
    app.csrf = body.csrf_token;
    app.officer = { username: body.officer.username, display_name: body.officer.display_name, role: body.officer.role };
    kept.set("officer", app.officer);
    start();
  } catch (_) {
    $("login-msg").textContent = t("fieldapp.offline");
  }
});

$("logout").addEventListener("click", async () => {
  try { await fetch("/api/v1/logout", { method: "POST", headers: { "x-csrf-token": app.csrf || "" }, credentials: "same-origin" }); } catch (_) { /* signed out anyway */ }
  for (const k of ["officer", "alerts", "tasks", "queue", "schedules"]) localStorage.removeItem("gh.app." + k);
  app.officer = null; app.alerts = []; app.tasks = []; app.schedules = [];
  if (app.socket) { const s = app.socket; app.socket = null; s.close(); }
  showLogin("");
});

$("lang").addEventListener("click", () => {
  setLang(getLang() === "zh-CN" ? "en" : "zh-CN");
  localStorage.setItem("gh.lang", getLang());
  renderAll();
  setNet(app.online);
});

function start() {
  $("login").hidden = true;
  $("main").hidden = false;
  renderAll();
  connect();
  loadTasks();
  flush();
}

async function boot() {
  setLang(localStorage.getItem("gh.lang") === "en" ? "en" : "zh-CN");
  try {
    const messages = await (await fetch("/api/v1/messages")).json();
    kept.set("messages", messages);
    setMessages(messages);
  } catch (_) {
    setMessages(kept.get("messages", {}));
  }
  applyTexts();
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {});
  window.addEventListener("online", () => flush());
  window.addEventListener("offline", () => setNet(false));
  setInterval(() => { if (queued().length) flush(); }, 3000);
  watchPosition();
  const who = await whoAmI();
  if (who === "ok") start();
  else if (who === "offline" && app.officer) {
    // No link: what the phone kept.
    setNet(false);
    $("login").hidden = true;
    $("main").hidden = false;
    renderAll();
    setTimeout(boot2, 3000);
  } else showLogin("");
}

/** Tries the link again after starting offline. */
async function boot2() {
  if ((await whoAmI()) === "ok") start();
  else setTimeout(boot2, 3000);
}

boot();
