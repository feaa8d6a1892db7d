// @ts-check
// Emergency response on the console: the incident board (open incidents by class and status),
// the incident view (timeline, map with the site, its threat zone, the teams' people and their
// live positions, tasks, the nearest teams to dispatch), and the field report stream. What is
// shown is read from the server; the live link only says which incident changed
// (`gh:incident` events), and the shown incident is read again.

import { api, report } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { registerPage } from "../lib/pages.js";
import { subscribe } from "../lib/store.js";
import { fmtTime, num, t } from "../lib/text.js";

/** @typedef {{id: number, division: string, title: string, class: string, status: string, casualties: number, threatened_people: number, losses: number, opened_at: string, updated_at: string, closed_at: string | null, site_ids: number[], warning_ids: number[]}} Incident */
/** @typedef {{id: number, incident_id: number, team_id: number, team_name: string, assignee_name: string | null, title: string, status: string, decline_reason: string | null, deadline: string | null, updated_at: string}} Task */
/** @typedef {{officer_id: number, name: string, task_id: number | null, at: string, longitude: number, latitude: number}} Position */
/** @typedef {{id: number, code: string, name: string, longitude: number, latitude: number, threat_zone: any}} IncidentSite */
/** @typedef {{id: number, at: string, kind: string, by: string | null, detail: any}} Entry */
/** @typedef {Incident & {sites: IncidentSite[], timeline: Entry[], tasks: Task[], positions: Position[]}} Detail */
/** @typedef {{team: {id: number, name: string, kind: string, members: {name: string}[]}, distance_km: number, eta_minutes: number, from: string}} Suggestion */

/** Moves the console offers from each status (the state machine's, crates/incidents). */
const NEXT = /** @type {Record<string, string[]>} */ ({
  open: ["responding", "closed"],
  responding: ["stabilised"],
  stabilised: ["responding", "closed"],
  closed: [],
});

const view = {
  /** @type {HTMLElement | null} */ root: null,
  /** @type {number | null} */ shown: null,
  /** @type {any} */ map: null,
  /** @type {any} */ layers: null,
  /** @type {(ev: Event) => void} */ onChange: () => {},
};

export const mayRun = () => {
  const role = document.documentElement.dataset.role || "";
  return role === "duty_officer" || role === "admin";
};

/** @param {Incident[]} list */
function board(list) {
  const classes = ["huge", "large", "medium", "small"];
  const statuses = ["open", "responding", "stabilised"];
  const count = (/** @type {string} */ c, /** @type {string} */ s) => list.filter((i) => i.class === c && i.status === s).length;
  return html`<h2>${t("incidents.board")}</h2>
    <table class="grid" id="incident-matrix"><tr><th></th>${statuses.map((s) => html`<th>${t("incidents.status." + s)}</th>`)}</tr>
      ${classes.map((c) => html`<tr><th>${t("incidents.class." + c)}</th>${statuses.map((s) => html`<td>${count(c, s)}</td>`)}</tr>`)}</table>
    ${list.length ? html`<table class="grid" id="incident-list"><tr><th>${t("incidents.title")}</th><th>${t("incidents.class")}</th><th>${t("incidents.status")}</th><th>${t("incidents.opened")}</th><th>${t("incidents.updated")}</th></tr>
      ${list.map((i) => html`<tr data-incident="${i.id}" class="clickable"><td>${i.title}</td><td><span class="chip class-${i.class}">${t("incidents.class." + i.class)}</span></td><td><span class="chip istate-${i.status}">${t("incidents.status." + i.status)}</span></td><td>${fmtTime(i.opened_at)}</td><td>${fmtTime(i.updated_at)}</td></tr>`)}</table>`
      : html`<p>${t("incidents.none")}</p>`}`;
}

/** @param {Entry} e */
function entryText(e) {
  const d = e.detail || {};
  if (e.kind === "opened" && d.report) return t("incidents.ev.opened_report", { report: d.report, site: d.site || "" });
  if (e.kind === "opened") return t(d.automatic ? "incidents.ev.opened_auto" : "incidents.ev.opened", { site: d.site || "" });
  if (e.kind === "status") return t("incidents.ev.status", { from: t("incidents.status." + d.from), to: t("incidents.status." + d.to) }) + (d.note ? " · " + d.note : "");
  if (e.kind === "assessed") return t("incidents.ev.assessed", { class: t("incidents.class." + d.class) });
  if (e.kind === "task_assigned") return t("incidents.ev.task_assigned", { title: d.title || "" });
  if (e.kind === "consult_decision") return t("incidents.ev.consult_decision", { room: d.room || "", text: d.text || "" });
  if (e.kind === "task_status") return t("incidents.ev.task_status", { task: d.task, to: t("incidents.task." + d.to) }) + (d.reason ? " · " + d.reason : "");
  return e.kind;
}

/** @param {Detail} d @param {Suggestion[]} nearest */
function detail(d, nearest) {
  return html`<p><button type="button" id="incident-back" class="link">${t("incidents.back")}</button></p>
    <h2 id="incident-title">${d.title} <span class="chip class-${d.class}">${t("incidents.class." + d.class)}</span>
      <span class="chip istate-${d.status}" id="incident-status" data-status="${d.status}">${t("incidents.status." + d.status)}</span></h2>
    <p>${t("incidents.figures", { dead: d.casualties, people: d.threatened_people, losses: num(d.losses, 1) })} · ${t("incidents.opened")} ${fmtTime(d.opened_at)}</p>
    ${mayRun() && NEXT[d.status].length ? html`<p class="actions">${NEXT[d.status].map((s) => html`<button type="button" class="big" data-move="${s}">${t("incidents.move." + s)}</button> `)}</p>` : ""}
    <div class="incident-split">
      <div id="incident-map"></div>
      <div>
        <h3>${t("incidents.tasks")}</h3>
        ${d.tasks.length ? html`<table class="grid" id="incident-tasks"><tr><th>${t("incidents.task")}</th><th>${t("incidents.team")}</th><th>${t("incidents.task_status")}</th><th>${t("incidents.updated")}</th></tr>
          ${d.tasks.map((k) => html`<tr data-task="${k.id}" data-status="${k.status}"><td>${k.title}</td><td>${k.team_name}${k.assignee_name ? " · " + k.assignee_name : ""}</td><td><span class="chip tstate-${k.status}">${t("incidents.task." + k.status)}</span>${k.decline_reason ? " · " + k.decline_reason : ""}</td><td>${fmtTime(k.updated_at)}</td></tr>`)}</table>`
          : html`<p>${t("incidents.no_tasks")}</p>`}
        <h3>${t("incidents.positions")}</h3>
        ${d.positions.length ? html`<ul id="incident-positions">${d.positions.map((p) => html`<li data-officer="${p.officer_id}" data-lon="${p.longitude}" data-lat="${p.latitude}">${p.name} · ${num(p.longitude, 5)}, ${num(p.latitude, 5)} · ${fmtTime(p.at)}</li>`)}</ul>`
          : html`<p>${t("incidents.no_positions")}</p>`}
        ${mayRun() && d.status !== "closed" ? html`<h3>${t("incidents.nearest")}</h3>
          <label>${t("incidents.task_title")} <input id="task-title" value="${t("incidents.task_default")}"></label>
          ${nearest.length ? html`<table class="grid" id="incident-nearest"><tr><th>${t("incidents.team")}</th><th>${t("incidents.distance")}</th><th>${t("incidents.eta")}</th><th></th></tr>
            ${nearest.map((s) => html`<tr data-team="${s.team.id}"><td>${s.team.name} · ${t("incidents.kind." + s.team.kind)}</td><td>${num(s.distance_km, 1)} km</td><td>${t("incidents.minutes", { n: num(s.eta_minutes, 0) })}</td><td><button type="button" class="big" data-dispatch="${s.team.id}">${t("incidents.dispatch")}</button></td></tr>`)}</table>`
            : html`<p>${t("incidents.no_teams")}</p>`}` : ""}
        <h3>${t("incidents.timeline")}</h3>
        <ol class="timeline" id="incident-timeline">${d.timeline.map((e) => html`<li data-kind="${e.kind}">${entryText(e)} · ${e.by || t("incidents.system")} · ${fmtTime(e.at)}</li>`)}</ol>
      </div>
    </div>`;
}

/** Draws the site, its threat zone and the people's positions on the incident's map. @param {Detail} d */
function drawMap(d) {
  const el = document.getElementById("incident-map");
  // @ts-ignore Leaflet is a global script
  const L = window.L;
  if (!el || !L) return;
  if (view.map) view.map.remove();
  view.map = L.map(el, { zoomControl: true, attributionControl: false });
  const group = L.featureGroup().addTo(view.map);
  for (const s of d.sites) {
    L.circleMarker([s.latitude, s.longitude], { radius: 9, color: "#d81e06", weight: 3 }).addTo(group);
    if (s.threat_zone) L.geoJSON(s.threat_zone, { style: { color: "#d81e06", weight: 2, dashArray: "6 4", fillOpacity: 0.15 } }).addTo(group);
  }
  for (const p of d.positions) L.circleMarker([p.latitude, p.longitude], { radius: 6, color: "#6fd36f", fillOpacity: 0.9 }).addTo(group);
  const bounds = group.getBounds();
  if (bounds.isValid()) view.map.fitBounds(bounds.pad(0.5), { maxZoom: 14 });
  else view.map.setView([30.6, 104.0], 6);
}

async function showBoard() {
  view.shown = null;
  const root = view.root;
  if (!root) return;
  try {
    const list = await api("/incidents");
    if (view.shown !== null) return;
    render(root, board(list));
    for (const row of /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll("[data-incident]"))) row.addEventListener("click", () => openIncident(Number(row.dataset.incident)));
  } catch (e) { report(e); }
}

/** @param {number} id */
export async function openIncident(id) {
  view.shown = id;
  const root = view.root;
  if (!root) return;
  try {
    /** @type {Detail} */
    const d = await api("/incidents/" + id);
    /** @type {Suggestion[]} */
    const nearest = mayRun() && d.status !== "closed" ? await api("/incidents/" + id + "/nearest-teams") : [];
    if (view.shown !== id) return;
    const title = /** @type {HTMLInputElement | null} */ (root.querySelector("#task-title"));
    const typed = title ? title.value : null;
    render(root, detail(d, nearest));
    const again = /** @type {HTMLInputElement | null} */ (root.querySelector("#task-title"));
    if (again && typed !== null) again.value = typed;
    drawMap(d);
    root.querySelector("#incident-back")?.addEventListener("click", showBoard);
    for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ (root.querySelectorAll("[data-move]"))) {
      b.addEventListener("click", async () => {
        b.disabled = true;
        try { await api("/incidents/" + id + "/status", { method: "POST", body: JSON.stringify({ status: b.dataset.move }) }); } catch (e) { report(e); }
        openIncident(id);
      });
    }
    for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ (root.querySelectorAll("[data-dispatch]"))) {
      b.addEventListener("click", async () => {
        b.disabled = true;
        const input = /** @type {HTMLInputElement} */ (root.querySelector("#task-title"));
        try {
          await api("/incidents/" + id + "/tasks", { method: "POST", body: JSON.stringify({ team: Number(b.dataset.dispatch), title: input.value }) });
        } catch (e) { report(e); }
        openIncident(id);
      });
    }
    document.dispatchEvent(new CustomEvent("gh:incident-shown", { detail: { id, status: d.status, tasks: d.tasks.map((k) => k.status), positions: d.positions.length } }));
  } catch (e) { report(e); }
}

/** Opens the incident of warning `warning` (one per warning) and shows it. @param {number} warning */
export async function openFromWarning(warning) {
  const incident = await api("/warnings/" + warning + "/incident", { method: "POST", body: "{}" });
  document.getElementById("tab-incidents")?.click();
  openIncident(incident.id);
}

/** Opens the incident of field report `id` (one per report) and shows it. @param {number} id */
export async function openFromReport(id) {
  const incident = await api("/field-reports/" + id + "/incident", { method: "POST", body: "{}" });
  document.getElementById("tab-incidents")?.click();
  openIncident(incident.id);
}

registerPage({
  name: "incidents",
  label: "incidents.tab",
  allowed: (officer) => {
    document.documentElement.dataset.role = officer.role;
    return officer.role !== "village_monitor";
  },
  show(root) {
    view.root = root;
    view.onChange = (ev) => {
      const id = /** @type {CustomEvent} */ (ev).detail.id;
      if (view.shown === id) openIncident(id);
      else if (view.shown === null) showBoard();
    };
    document.addEventListener("gh:incident", view.onChange);
    if (view.shown !== null) openIncident(view.shown);
    else showBoard();
  },
  hide() {
    document.removeEventListener("gh:incident", view.onChange);
  },
});

subscribe(["lang"], () => {
  const root = view.root;
  if (!root || root.hidden) return;
  if (view.shown !== null) openIncident(view.shown);
  else showBoard();
});
