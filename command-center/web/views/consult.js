// @ts-check
// Remote consultation (远程会商): the rooms the officer may enter, opening one, and a room's
// working surface — video tiles, chat, a shared map everyone draws on, postings of evidence and
// the decision log — all from the room's socket, whose log the store holds. On a phone the
// same page stacks into one column.

import { api, report } from "../lib/api.js";
import { RoomLink, RoomMedia } from "../lib/consult-link.js";
import { html, render } from "../lib/html.js";
import { watchLive } from "../lib/live-view.js";
import { registerPage } from "../lib/pages.js";
import { state, subscribe } from "../lib/store.js";
import { getLang, t } from "../lib/text.js";

/** @typedef {import("../lib/consult-link.js").RoomEvent} RoomEvent */

/** Times in the agency's zone (China Standard Time). @param {string} ts */
function cst(ts) {
  return new Date(ts).toLocaleString(getLang(), { timeZone: "Asia/Shanghai", hour12: false, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

const page = {
  /** @type {HTMLElement | null} */
  root: null,
  /** @type {any[]} */
  rooms: [],
  /** @type {RoomLink | null} */
  link: null,
  /** @type {RoomMedia | null} */
  media: null,
  /** @type {any} */
  map: null,
  /** @type {any} */
  drawn: null,
  /** @type {{kind: string, points: number[][]}} */
  drawing: { kind: "", points: [] },
  /** Site cameras brought into the room: their live views, by `gateway/camera`.
   * @type {Map<string, {ws: WebSocket, release: () => void} | null>} */
  cameras: new Map(),
};
// For the browser tests and diagnostics: the room the page is in, its media and its map.
/** @type {any} */ (window).geohazardConsult = page;

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const who = (/** @type {RoomEvent} */ e) => `${e.officer_name || "—"}（${e.division_name || "—"}）`;

async function showList() {
  const root = page.root;
  if (!root) return;
  try {
    page.rooms = await api("/consult/rooms");
  } catch (e) {
    report(e);
    return;
  }
  // A room entered meanwhile (a link straight into one) is what the page shows.
  if (page.link) return;
  const mayOpen = state.officer && ["duty_officer", "admin"].includes(state.officer.role);
  render(root, html`<div class="consult-list">
    <h2>${t("consult.title")}</h2>
    ${mayOpen && html`<form id="consult-open" class="consult-form">
      <label><span>${t("consult.room_title")}</span><input id="consult-open-title" required maxlength="200"></label>
      <label><span>${t("consult.incident")}</span><input id="consult-open-incident" type="number" min="1"></label>
      <fieldset><legend>${t("consult.invite")}</legend>${state.divisions.filter((d) => d.code !== state.officer?.division_code).map((d) => html`<label class="inline"><input type="checkbox" name="invite" value="${d.code}"> ${d.name}</label>`)}</fieldset>
      <button type="submit" id="consult-open-submit">${t("consult.open")}</button></form>`}
    <table class="grid" id="consult-rooms"><tr><th>${t("consult.room_title")}</th><th>${t("consult.division")}</th><th>${t("consult.incident")}</th><th>${t("consult.state")}</th><th>${t("consult.opened_at")}</th></tr>
    ${page.rooms.length ? page.rooms.map((r) => html`<tr data-room="${r.id}" class="clickable"><td>${r.title}</td><td>${r.division_name}</td><td>${r.incident_id ? "#" + r.incident_id : "—"}</td><td>${t("consult.state." + r.state)}</td><td>${cst(r.opened_at)}</td></tr>`)
      : html`<tr><td colspan="5">${t("consult.none")}</td></tr>`}</table></div>`);
  for (const tr of /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll("[data-room]"))) tr.addEventListener("click", () => enter(Number(tr.dataset.room)));
  $("consult-open")?.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const incident = Number(/** @type {HTMLInputElement} */ ($("consult-open-incident")).value) || null;
    const invited = [.../** @type {NodeListOf<HTMLInputElement>} */ (root.querySelectorAll("input[name=invite]:checked"))].map((i) => i.value);
    try {
      const room = await api("/consult/rooms", { method: "POST", body: JSON.stringify({ title: /** @type {HTMLInputElement} */ ($("consult-open-title")).value, incident_id: incident, invited_divisions: invited }) });
      await enter(room.id);
    } catch (e) {
      report(e);
    }
  });
}

/** Enters room `id`: its socket, then the working surface. @param {number} id */
export async function enter(id) {
  leave();
  const link = new RoomLink(id);
  page.link = link;
  try {
    await link.open();
  } catch (e) {
    report(e);
    return;
  }
  page.media = new RoomMedia(link);
  page.media.addEventListener("change", drawVideo);
  page.media.addEventListener("weak", drawVideo);
  link.addEventListener("event", (e) => onEvent(/** @type {CustomEvent} */ (e).detail.event));
  link.addEventListener("error", (e) => showNote(/** @type {CustomEvent} */ (e).detail.message));
  drawRoom();
}

function leave() {
  for (const c of page.cameras.values()) {
    c?.ws.close();
    c?.release();
  }
  page.cameras.clear();
  page.media?.stop();
  page.media = null;
  page.link?.close();
  page.link = null;
  page.map?.remove();
  page.map = null;
}

/** @param {string} text */
function showNote(text) {
  const el = document.getElementById("consult-note");
  if (el) el.textContent = text;
}

function present() {
  const link = page.link;
  if (!link) return [];
  /** @type {Map<number, RoomEvent>} */
  const inRoom = new Map();
  for (const e of link.events) {
    if (e.officer_id == null) continue;
    if (e.kind === "joined") inRoom.set(e.officer_id, e);
    if (e.kind === "left") inRoom.delete(e.officer_id);
  }
  return [...inRoom.values()];
}

function drawRoom() {
  const root = page.root;
  const link = page.link;
  if (!root || !link) return;
  const room = link.welcome.room;
  page.map?.remove();
  page.map = null;
  render(root, html`<div class="consult-room" id="consult-room" data-room="${room.id}">
    <header class="consult-head">
      <button type="button" id="consult-back" class="link">${t("consult.back")}</button>
      <h2>${room.title}</h2>
      <span class="chip">${t("consult.state." + room.state)}</span>
      <span>${room.incident_id ? t("consult.incident") + " #" + room.incident_id : ""}</span>
      <a id="consult-minutes" href="/api/v1/consult/rooms/${room.id}/minutes" target="_blank" rel="noopener">${t("consult.minutes")}</a>
      <span id="consult-note" class="msg" role="alert"></span>
    </header>
    <section class="consult-video">
      <div class="consult-media-buttons">
        <button type="button" id="consult-media-join" ${link.welcome.media ? "" : "disabled"}>${t("consult.media.join")}</button>
        <button type="button" id="consult-media-audio" ${link.welcome.media ? "" : "disabled"}>${t("consult.media.audio_only")}</button>
        <button type="button" id="consult-media-screen" ${link.welcome.media ? "" : "disabled"}>${t("consult.media.screen")}</button>
        <button type="button" id="consult-media-leave">${t("consult.media.leave")}</button>
      </div>
      <p id="consult-media-state" class="consult-media-state" role="status" hidden></p>
      ${mayWatchCameras() ? html`<form id="consult-camera-form" class="consult-form">
        <input id="consult-camera" list="consult-camera-options" placeholder="${t("consult.camera.placeholder")}" maxlength="130" autocomplete="off">
        <datalist id="consult-camera-options"></datalist>
        <button type="submit" id="consult-camera-add">${t("consult.camera.add")}</button>
      </form>` : ""}
      <div id="consult-tiles" class="consult-tiles"></div>
      <div id="consult-cameras" class="consult-tiles"></div>
      <h3>${t("consult.present")}</h3><ul id="consult-present" class="consult-present"></ul>
    </section>
    <section class="consult-map-box">
      <div class="consult-draw">
        <button type="button" data-draw="Point">${t("consult.draw.point")}</button>
        <button type="button" data-draw="LineString">${t("consult.draw.line")}</button>
        <button type="button" data-draw="Polygon">${t("consult.draw.polygon")}</button>
        <input id="consult-draw-label" placeholder="${t("consult.draw.label")}" maxlength="200">
        <button type="button" id="consult-draw-done">${t("consult.draw.done")}</button>
      </div>
      <div id="consult-map" class="consult-map"></div>
    </section>
    <section class="consult-chat">
      <h3>${t("consult.chat")} <small>${t("consult.zone")}</small></h3>
      <ol id="consult-log" class="consult-log"></ol>
      <form id="consult-chat-form"><input id="consult-chat-text" maxlength="2000" autocomplete="off"><button type="submit" id="consult-chat-send">${t("consult.send")}</button></form>
      <form id="consult-post-form" class="consult-form">
        <select id="consult-post-kind">${["sensor_chart", "warning_evidence", "camera_frame", "photo"].map((k) => html`<option value="${k}">${t("consult.post." + k)}</option>`)}</select>
        <input id="consult-post-ref" placeholder="${t("consult.post.ref")}" maxlength="500">
        <button type="submit">${t("consult.post")}</button>
      </form>
    </section>
    <section class="consult-decisions">
      <h3>${t("consult.decisions")}</h3>
      <ol id="consult-decision-log" class="consult-log"></ol>
      <form id="consult-decide-form"><textarea id="consult-decide-text" maxlength="2000" placeholder="${t("consult.decide.placeholder")}"></textarea>
        <div id="consult-evidence" class="consult-evidence"></div>
        <button type="submit" id="consult-decide">${t("consult.decide")}</button></form>
    </section></div>`);
  $("consult-back").addEventListener("click", () => { leave(); showList(); });
  $("consult-media-join").addEventListener("click", () => page.media?.start().catch((e) => showNote(String(e.message || e))));
  // Audio only, and video back: one button that says which it does.
  $("consult-media-audio").addEventListener("click", () => page.media?.setAudioOnly(!page.media.audioOnly).catch((e) => showNote(String(e.message || e))));
  $("consult-media-screen").addEventListener("click", () => {
    const media = page.media;
    if (!media) return;
    (media.screen ? media.stopScreen() : media.shareScreen()).catch((e) => showNote(String(e.message || e)));
  });
  $("consult-media-leave").addEventListener("click", () => page.media?.stop());
  document.getElementById("consult-camera-form")?.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($("consult-camera"));
    const [gateway, camera] = input.value.trim().split("/");
    if (gateway && camera) link.send({ type: "camera", gateway, camera });
    else showNote(t("consult.camera.placeholder"));
    input.value = "";
  });
  fillCameraOptions(room.incident_id);
  $("consult-chat-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = /** @type {HTMLInputElement} */ ($("consult-chat-text"));
    if (input.value.trim()) link.send({ type: "chat", text: input.value });
    input.value = "";
  });
  $("consult-post-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const ref = /** @type {HTMLInputElement} */ ($("consult-post-ref"));
    link.send({ type: "post", kind: /** @type {HTMLSelectElement} */ ($("consult-post-kind")).value, ref: ref.value });
    ref.value = "";
  });
  $("consult-decide-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = /** @type {HTMLTextAreaElement} */ ($("consult-decide-text"));
    const evidence = [.../** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll("#consult-evidence input:checked"))].map((i) => Number(i.value));
    link.send({ type: "decide", text: text.value, evidence });
    text.value = "";
    for (const i of /** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll("#consult-evidence input"))) i.checked = false;
  });
  for (const b of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("[data-draw]"))) {
    b.addEventListener("click", () => { page.drawing = { kind: b.dataset.draw || "", points: [] }; showNote(t("consult.draw.hint")); });
  }
  $("consult-draw-done").addEventListener("click", finishDrawing);
  drawMap();
  for (const c of page.cameras.values()) {
    c?.ws.close();
    c?.release();
  }
  page.cameras.clear();
  for (const e of link.events) onEvent(e, true);
  drawVideo();
}

/** Whether the officer may watch cameras, and so bring one into a room (field staff may not). */
function mayWatchCameras() {
  return ["viewer", "duty_officer", "supervisor", "admin"].includes(/** @type {string} */ (state.officer?.role));
}

/** The cameras of the room's incident's sites, offered for bringing in. @param {number | null} incident */
async function fillCameraOptions(incident) {
  if (!incident) return;
  try {
    const detail = await api("/incidents/" + incident);
    const lists = await Promise.all((detail.sites || []).map((/** @type {{id: number}} */ s) => api("/sites/" + s.id + "/cameras")));
    const list = document.getElementById("consult-camera-options");
    if (list) render(list, html`${lists.flat().map((/** @type {{gateway: string, camera: string}} */ c) => html`<option value="${c.gateway}/${c.camera}"></option>`)}`);
  } catch (e) {
    // The incident may be out of reach of an invited officer: the input still takes a name.
  }
}

/** A site camera brought into the room: a tile showing its live view through the room.
 * @param {string} gateway @param {string} camera */
function watchCamera(gateway, camera) {
  const key = gateway + "/" + camera;
  const box = document.getElementById("consult-cameras");
  const room = page.link?.welcome.room;
  if (!box || !room || page.cameras.has(key)) return;
  const tile = document.createElement("figure");
  tile.className = "consult-tile consult-camera";
  tile.dataset.camera = key;
  const img = document.createElement("img");
  img.alt = key;
  const cap = document.createElement("figcaption");
  cap.textContent = `${t("consult.camera.tile")} ${key}`;
  const again = document.createElement("button");
  again.type = "button";
  again.hidden = true;
  again.textContent = t("consult.camera.again");
  tile.append(img, cap, again);
  box.append(tile);
  page.cameras.set(key, null);
  const open = () => {
    again.hidden = true;
    const before = page.cameras.get(key);
    const path = `/consult/rooms/${room.id}/cameras/${encodeURIComponent(gateway)}/${encodeURIComponent(camera)}/live`;
    // A view lasts `live_max_s` (or ends with the link): watching again is one click; the
    // last view's frame is shown until the new view's first.
    const view = watchLive(path, img, (frames) => {
      if (frames === 1) before?.release();
      tile.dataset.frames = String(frames);
    }, () => {
      if (page.cameras.get(key) === view) again.hidden = false;
    });
    page.cameras.set(key, view);
  };
  again.addEventListener("click", open);
  open();
}

function drawMap() {
  page.map = L.map("consult-map", { minZoom: 3, maxZoom: 18, attributionControl: false }).setView([28.8, 104.6], 11);
  page.drawn = L.featureGroup().addTo(page.map);
  page.map.on("click", (/** @type {any} */ e) => {
    const d = page.drawing;
    if (!d.kind) return;
    d.points.push([Number(e.latlng.lng.toFixed(6)), Number(e.latlng.lat.toFixed(6))]);
    if (d.kind === "Point") finishDrawing();
  });
}

function finishDrawing() {
  const d = page.drawing;
  const label = /** @type {HTMLInputElement} */ ($("consult-draw-label")).value;
  /** @type {any} */
  let geometry = null;
  if (d.kind === "Point" && d.points.length) geometry = { type: "Point", coordinates: d.points[0] };
  if (d.kind === "LineString" && d.points.length >= 2) geometry = { type: "LineString", coordinates: d.points };
  if (d.kind === "Polygon" && d.points.length >= 3) geometry = { type: "Polygon", coordinates: [[...d.points, d.points[0]]] };
  page.drawing = { kind: "", points: [] };
  if (geometry) page.link?.send({ type: "annotate", geometry, label });
}

/** An event of the room, as it comes or from the history. @param {RoomEvent} e @param {boolean} [replay] */
function onEvent(e, replay = false) {
  const log = document.getElementById("consult-log");
  if (!log) return;
  if (e.kind === "annotation" && page.drawn) {
    const layer = L.geoJSON(e.body.geometry, { style: { color: "#d81e06", weight: 3 } });
    if (e.body.label) layer.bindTooltip(String(e.body.label), { permanent: true });
    layer.addTo(page.drawn);
    if (!replay || page.drawn.getLayers().length === 1) page.map.fitBounds(page.drawn.getBounds(), { maxZoom: 14 });
  }
  const li = document.createElement("li");
  li.dataset.event = String(e.id);
  li.className = "consult-" + e.kind;
  const text = e.kind === "chat" || e.kind === "decision" ? e.body.text
    : e.kind === "annotation" ? t("consult.annotation", { shape: t("consult.shape." + e.body.geometry.type), label: e.body.label || "" })
    : e.kind === "posting" ? `${t("consult.post." + e.body.kind)} #${e.body.ref} ${e.body.caption || ""}`
    : e.kind === "camera" ? `${t("consult.kind.camera")} ${e.body.gateway}/${e.body.camera}`
    : t("consult.kind." + e.kind);
  render(li, html`<time>${cst(e.at)}</time> <b>${who(e)}</b> ${text}`);
  if (e.kind === "decision") {
    const cited = (e.body.evidence || []).map((/** @type {number} */ id) => {
      const x = page.link?.events.find((ev) => ev.id === id);
      return "#" + id + (x ? " " + t(x.kind === "posting" ? "consult.post." + x.body.kind : "consult.kind." + x.kind) : "");
    }).join("、");
    const d = /** @type {HTMLElement} */ (li.cloneNode(true));
    if (cited) d.append(` · ${t("consult.evidence")} ${cited}`);
    document.getElementById("consult-decision-log")?.append(d);
  }
  log.append(li);
  log.scrollTop = log.scrollHeight;
  if (e.kind === "posting" || e.kind === "annotation") {
    const box = document.getElementById("consult-evidence");
    const label = document.createElement("label");
    label.className = "inline";
    render(label, html`<input type="checkbox" value="${e.id}"> #${e.id} ${e.kind === "posting" ? t("consult.post." + e.body.kind) : t("consult.kind.annotation")}`);
    box?.append(label);
  }
  if (e.kind === "camera") watchCamera(String(e.body.gateway), String(e.body.camera));
  if (e.kind === "joined" || e.kind === "left") drawPresent();
  if (e.kind === "closed") showNote(t("consult.closed"));
}

function drawPresent() {
  const el = document.getElementById("consult-present");
  if (el) render(el, html`${present().map((e) => html`<li>${who(e)}</li>`)}`);
}

function drawVideo() {
  const el = document.getElementById("consult-tiles");
  const media = page.media;
  if (!el || !media) return;
  el.replaceChildren();
  /** @param {MediaStream} stream @param {string} name @param {boolean} muted @param {boolean} [screen] */
  const tile = (stream, name, muted, screen = false) => {
    const box = document.createElement("figure");
    box.className = screen ? "consult-tile consult-screen" : "consult-tile";
    const v = document.createElement("video");
    v.autoplay = true;
    v.playsInline = true;
    v.muted = muted;
    v.srcObject = stream;
    const cap = document.createElement("figcaption");
    cap.textContent = screen ? `${name} · ${t("consult.media.screen_tile")}` : name;
    box.append(v, cap);
    // Audio only: a tile would freeze on its last frame (or stay black) and look like a fault.
    // One's own shared screen still goes out.
    if (media.audioOnly && !(muted && screen)) {
      const note = document.createElement("div");
      note.className = "consult-paused";
      note.textContent = t(muted ? "consult.media.paused_own" : "consult.media.paused");
      box.append(note);
    }
    el.append(box);
  };
  if (media.local) tile(media.local, t("consult.me"), true);
  if (media.screen) tile(media.screen.stream, t("consult.me"), true, true);
  for (const [, f] of media.feeds) tile(f.stream, f.display, false, f.screen);
  if (!el.children.length) el.textContent = t("consult.media.none");
  drawMediaState(media);
  drawPresent();
}

/** The media buttons' words and what the officer sends: audio only (the weak link's fallback
 * said with its reading, and a way back to video), a shared screen. @param {RoomMedia} media */
function drawMediaState(media) {
  const audio = document.getElementById("consult-media-audio");
  const screen = document.getElementById("consult-media-screen");
  const box = document.getElementById("consult-media-state");
  if (!audio || !screen || !box) return;
  audio.textContent = t(media.audioOnly ? "consult.media.video_back" : "consult.media.audio_only");
  audio.classList.toggle("on", media.audioOnly);
  screen.textContent = t(media.screen ? "consult.media.screen_stop" : "consult.media.screen");
  screen.classList.toggle("on", Boolean(media.screen));
  const w = media.weak;
  const lines = [
    media.audioOnly && w ? t("consult.media.weak", { loss: Math.round(w.loss * 100), rtt: w.rttMs, kbps: w.uplinkBps == null ? "—" : Math.round(w.uplinkBps / 1000) })
      : media.audioOnly ? t("consult.media.audio_only_on") : "",
    media.screen ? t("consult.media.sharing") : "",
  ].filter(Boolean);
  box.hidden = !lines.length;
  box.classList.toggle("weak", Boolean(media.audioOnly && w));
  render(box, html`${lines.map((l) => html`<span>${l}</span> `)}${media.audioOnly ? html`<button type="button" id="consult-video-back">${t("consult.media.video_back")}</button>` : ""}`);
  document.getElementById("consult-video-back")?.addEventListener("click", () => media.setAudioOnly(false).catch((e) => showNote(String(e.message || e))));
}

registerPage({
  name: "consult",
  label: "consult.tab",
  allowed: (officer) => /** @type {string} */ (officer.role) !== "village_monitor",
  show(root) {
    page.root = root;
    if (page.link) drawRoom();
    else showList();
  },
  hide() {},
});

subscribe(["lang"], () => {
  if (!page.root || page.root.hidden) return;
  if (page.link) drawRoom();
  else showList();
});
