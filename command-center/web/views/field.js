// @ts-check
// What the field sends, on the console: the live stream of rapid hazard reports (灾情速报) with
// their photos, and patrol coverage of the mass-monitoring network (per division the sites due,
// patrolled and overdue; per site its last patrol and next due time). Read from the server; the
// live link only says that a report or a patrol came (`gh:field` events), and the page reads
// the store again.

import { api, report } from "../lib/api.js";
import { mayRun, openFromReport, openIncident } from "./incidents.js";
import { html, render } from "../lib/html.js";
import { registerPage } from "../lib/pages.js";
import { subscribe } from "../lib/store.js";
import { fmtTime, num, t } from "../lib/text.js";

/** @typedef {{id: number, division: string, division_name: string, reporter: string, site_id: number | null, site_code: string | null, site_name: string | null, kind: string, text: string, people_at_risk: number, longitude: number, latitude: number, accuracy_m: number | null, received_at: string, photo_ids: number[], incident_id: number | null}} FieldReport */
/** @typedef {{site_id: number, site_code: string, site_name: string, division: string, division_name: string, interval_hours: number, season: number[], off_season_hours: number | null, items: string[], monitor_name: string | null, due_hours: number | null, last_at: string | null, last_by: string | null, last_anomalies: number | null, next_due_at: string | null, done: boolean, overdue: boolean}} Schedule */
/** @typedef {{divisions: {division: string, division_name: string, due: number, done: number, overdue: number}[], sites: Schedule[]}} Coverage */

const view = {
  /** @type {HTMLElement | null} */ root: null,
  /** @type {FieldReport[]} */ reports: [],
  /** @type {Coverage | null} */ coverage: null,
  /** @type {(ev: Event) => void} */ onField: () => {},
};

/** @param {Schedule} s */
function siteState(s) {
  if (s.due_hours === null) return html`<span class="chip pstate-none">${t("field.patrol.not_due")}</span>`;
  if (s.overdue) return html`<span class="chip pstate-overdue">${t("field.patrol.overdue")}</span>`;
  if (s.done) return html`<span class="chip pstate-done">${t("field.patrol.done")}</span>`;
  return html`<span class="chip pstate-pending">${t("field.patrol.pending")}</span>`;
}

/** @param {Coverage} c */
function coverageView(c) {
  return html`<h2>${t("field.coverage")}</h2>
    ${c.divisions.length ? html`<table class="grid" id="patrol-divisions"><tr><th>${t("field.division")}</th><th>${t("field.due")}</th><th>${t("field.done")}</th><th>${t("field.overdue")}</th><th>${t("field.rate")}</th></tr>
      ${c.divisions.map((d) => html`<tr data-division="${d.division}" data-due="${d.due}" data-done="${d.done}" data-overdue="${d.overdue}"><td>${d.division_name}</td><td>${d.due}</td><td>${d.done}</td><td class="${d.overdue ? "bad" : ""}">${d.overdue}</td><td>${d.due ? num((100 * d.done) / d.due, 0) + "%" : "—"}</td></tr>`)}</table>`
      : html`<p>${t("field.no_schedules")}</p>`}
    ${c.sites.length ? html`<table class="grid" id="patrol-sites"><tr><th>${t("field.site")}</th><th>${t("field.monitor")}</th><th>${t("field.every")}</th><th>${t("field.last")}</th><th>${t("field.next_due")}</th><th>${t("field.state")}</th></tr>
      ${c.sites.map((s) => html`<tr data-site="${s.site_id}" data-overdue="${s.overdue ? 1 : 0}" data-done="${s.done ? 1 : 0}"><td>${s.site_name} <span class="dim">${s.site_code}</span></td>
        <td>${s.monitor_name || t("field.site_people")}</td>
        <td>${s.due_hours === null ? t("field.patrol.not_due") : t("field.hours", { n: s.due_hours })}</td>
        <td>${s.last_at ? html`${fmtTime(s.last_at)} · ${s.last_by}${s.last_anomalies ? html` · <b class="bad">${t("field.anomalies", { n: s.last_anomalies })}</b>` : ""}` : t("field.never")}</td>
        <td>${s.next_due_at ? fmtTime(s.next_due_at) : "—"}</td><td>${siteState(s)}</td></tr>`)}</table>` : ""}`;
}

/** @param {FieldReport} r */
function reportCard(r) {
  return html`<div class="card field-report" data-report="${r.id}">
    <div class="meta"><span class="chip kind">${t("field.kind." + r.kind)}</span> ${fmtTime(r.received_at)} · ${r.reporter} · ${r.division_name}</div>
    <div>${r.site_name ? html`<b>${r.site_name}</b> <span class="dim">${r.site_code}</span> · ` : ""}${r.text}</div>
    <div class="meta">${t("field.people_at_risk", { n: r.people_at_risk })} · ${t("field.position", { lon: num(r.longitude, 5), lat: num(r.latitude, 5) })}${r.accuracy_m !== null ? " " + t("field.accuracy", { m: num(r.accuracy_m, 0) }) : ""}</div>
    ${r.photo_ids.length ? html`<div class="photos">${r.photo_ids.map((p) => html`<a href="/api/v1/field-photos/${p}" target="_blank" rel="noopener"><img src="/api/v1/field-photos/${p}" alt="${t("field.photo")}" data-photo="${p}"></a>`)}</div>` : ""}
    <div class="actions">${r.incident_id
      ? html`<button type="button" class="link" data-incident-of="${r.id}" data-open="${r.incident_id}">${t("field.incident", { id: r.incident_id })}</button>`
      : mayRun() ? html`<button type="button" data-incident-of="${r.id}">${t("field.open_incident")}</button>` : ""}</div>
  </div>`;
}

function draw() {
  const root = view.root;
  if (!root) return;
  render(root, html`<div class="field-split">
    <section><h2>${t("field.reports")}</h2><div id="field-reports">${view.reports.length ? view.reports.map(reportCard) : html`<p>${t("field.no_reports")}</p>`}</div></section>
    <section id="patrol-coverage">${view.coverage ? coverageView(view.coverage) : ""}</section></div>`);
  for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ (root.querySelectorAll("[data-incident-of]"))) {
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        if (b.dataset.open) {
          document.getElementById("tab-incidents")?.click();
          await openIncident(Number(b.dataset.open));
        } else {
          await openFromReport(Number(b.dataset.incidentOf));
        }
      } catch (e) { report(e); b.disabled = false; }
    });
  }
}

async function loadAll() {
  try {
    const [reports, coverage] = await Promise.all([api("/field-reports?limit=100"), api("/patrols/coverage")]);
    view.reports = reports;
    view.coverage = coverage;
    draw();
  } catch (e) { report(e); }
}

/** Reads the reports that came after the newest shown; each shown once. */
async function loadNewReports() {
  try {
    const after = view.reports.length ? view.reports[0].id : 0;
    /** @type {FieldReport[]} */
    const fresh = await api("/field-reports?after=" + after);
    const known = new Set(view.reports.map((r) => r.id));
    view.reports = [...fresh.filter((r) => !known.has(r.id)), ...view.reports].slice(0, 200);
    draw();
  } catch (e) { report(e); }
}

async function loadCoverage() {
  try {
    view.coverage = await api("/patrols/coverage");
    draw();
  } catch (e) { report(e); }
}

registerPage({
  name: "field",
  label: "field.tab",
  allowed: (officer) => officer.role !== "village_monitor" && officer.role !== "field_staff",
  show(root) {
    view.root = root;
    view.onField = (ev) => {
      const m = /** @type {CustomEvent} */ (ev).detail;
      if (m.type === "field_report") loadNewReports();
      else if (m.type === "patrol") loadCoverage();
      else loadAll();
    };
    document.addEventListener("gh:field", view.onField);
    loadAll();
  },
  hide() {
    document.removeEventListener("gh:field", view.onField);
  },
});

subscribe(["lang"], () => {
  if (view.root && !view.root.hidden) draw();
});
