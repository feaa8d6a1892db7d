// @ts-check
// People and devices of the register (人员与设备): gateways and their MQTT keys (issued,
// rotated and revoked here, a key shown once); the people of the officer's divisions with their
// phones; who answers for each site; the duty roster, in the agency's time zone; and, for
// admins, the officer accounts of their divisions (a password shown once). Every refusal is
// shown as the server words it, in the console's language.

import { api, report, session } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { registerPage } from "../lib/pages.js";
import { state, subscribe } from "../lib/store.js";
import { fmtTime, getLang, t, zonedInstant, zoneLabel } from "../lib/text.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

const SITE_ROLES = ["monitor", "township_official", "county_official", "engineer"];
const ROLES = ["viewer", "duty_officer", "supervisor", "admin", "field_staff", "village_monitor"];

/** The page's root while shown. @type {HTMLElement | null} */
let shownIn = null;
/** The site whose people are shown. @type {string} */
let siteShown = "";
/** A secret shown once in its section, kept for a redraw of the page (language switch) only while shown. @type {{id: string, text: string, section: string} | null} */
let secret = null;

const isAdmin = () => state.officer?.role === "admin";

/**
 * A request with the console's language and the session's CSRF token: the status and JSON.
 * @param {string} method @param {string} path @param {any} [body]
 */
async function send(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { "content-type": "application/json", "accept-language": getLang() };
  if (session.csrf) headers["x-csrf-token"] = session.csrf;
  const r = await fetch("/api/v1" + path, { method, headers, body: body === undefined ? null : JSON.stringify(body), credentials: "same-origin" });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** Shows an answer in the message line `id`: ok text, or the server's error. @param {string} id @param {{status: number, body: any}} r @param {string} ok */
function tell(id, r, ok) {
  const el = $(id);
  if (!el) return;
  const good = r.status >= 200 && r.status < 300;
  el.className = "msg " + (good ? "ok" : "error");
  el.textContent = good ? ok : (r.body && r.body.error) || String(r.status);
}

/** The secret shown once, in the section it belongs to. @param {string} section */
function shownSecret(section) {
  return secret && secret.section === section && html`<p class="msg ok secret" id="${secret.id}">${secret.text}</p>`;
}

/** @param {HTMLElement} root */
async function show(root) {
  shownIn = root;
  /** @type {any[]} */ let gateways = [];
  /** @type {any[]} */ let people = [];
  /** @type {any[]} */ let roster = [];
  /** @type {any[]} */ let sites = [];
  /** @type {any[]} */ let officers = [];
  /** @type {any[]} */ let sitePeople = [];
  try {
    [gateways, people, roster, sites] = await Promise.all([
      api("/register/gateways").catch(() => []), api("/register/people"),
      api("/register/roster"), api("/sites"),
    ]);
    if (isAdmin()) officers = await api("/officers");
    if (!siteShown && sites.length) siteShown = String(sites[0].id);
    if (siteShown) sitePeople = await api(`/sites/${siteShown}/people`);
  } catch (e) { report(e); }
  const divisions = state.divisions;
  const divisionOptions = divisions.map((d) => html`<option value="${d.code}">${d.name} (${d.code})</option>`);
  const personOptions = people.map((p) => html`<option value="${p.id}">${p.name}${p.phone ? " · " + p.phone : ""}</option>`);
  const admin = isAdmin();
  render(root, html`<h2>${t("people.page.title")}</h2>
    <section class="people-gateways">
      <h3>${t("people.gateways.title")}</h3>
      <p class="hint">${t("people.gateways.hint")}</p>
      ${shownSecret("gateways")}
      <table class="grid" id="people-gateways"><tr>${["people.gateways.code", "people.gateways.name", "people.gateways.site", "people.gateways.key", ""].map((k) => html`<th>${k ? t(k) : ""}</th>`)}</tr>${
        gateways.map((g) => html`<tr data-gateway="${g.code}"><td>${g.code}</td><td>${g.name}</td><td>${g.site_name || t("common.none")}</td>
          <td>${g.has_key ? t("people.gateways.key_issued", { at: fmtTime(g.key_issued_at) }) : g.key_revoked_at ? t("people.gateways.key_revoked", { at: fmtTime(g.key_revoked_at) }) : t("people.gateways.key_none")}</td>
          <td>${admin && html`<button type="button" class="gw-issue" data-code="${g.code}">${t(g.has_key ? "people.gateways.rotate" : "people.gateways.issue")}</button>
            ${g.has_key && html`<button type="button" class="gw-revoke" data-code="${g.code}">${t("people.gateways.revoke")}</button>`}`}</td></tr>`)}</table>
      ${admin && html`<form id="gw-form" class="register-form">
        <label>${t("people.gateways.code")}<input id="gw-code" required></label>
        <label>${t("people.gateways.name")}<input id="gw-name"></label>
        <label>${t("people.gateways.site")}<select id="gw-site">${sites.map((s) => html`<option value="${s.id}">${s.name} (${s.code})</option>`)}</select></label>
        <button type="submit" id="gw-register">${t("people.gateways.register")}</button>
        <p id="gw-msg" class="msg" role="status"></p>
      </form>`}
    </section>
    <section class="people-people">
      <h3>${t("people.people.title", { n: people.length })}</h3>
      <table class="grid" id="people-people"><tr>${["people.people.name", "people.people.phone", "people.people.division", "people.people.officer"].map((k) => html`<th>${t(k)}</th>`)}</tr>${
        people.map((p) => html`<tr data-person="${p.id}"><td>${p.name}</td><td>${p.phone || t("common.none")}</td><td>${p.division_name}</td><td>${p.officer || ""}</td></tr>`)}</table>
      ${admin && html`<form id="person-form" class="register-form">
        <label>${t("people.people.name")}<input id="person-name" required></label>
        <label>${t("people.people.phone")}<input id="person-phone"></label>
        <label>${t("people.people.division")}<select id="person-division">${divisionOptions}</select></label>
        <button type="submit" id="person-add">${t("people.people.add")}</button>
        <p id="person-msg" class="msg" role="status"></p>
      </form>`}
    </section>
    <section class="people-site">
      <h3>${t("people.site.title")}</h3>
      <label>${t("people.site.site")}<select id="site-pick">${sites.map((s) => html`<option value="${s.id}" ${String(s.id) === siteShown ? "selected" : ""}>${s.name} (${s.code})</option>`)}</select></label>
      <table class="grid" id="people-site"><tr>${["people.site.role", "people.people.name", "people.people.phone", ""].map((k) => html`<th>${k ? t(k) : ""}</th>`)}</tr>${
        sitePeople.map((p, i) => html`<tr data-site-person="${p.person_id}"><td>${t("siterole." + p.role)}</td><td>${p.name}</td><td>${p.phone || t("common.none")}</td>
          <td>${admin && html`<button type="button" class="site-remove" data-index="${i}">${t("people.site.remove")}</button>`}</td></tr>`)}</table>
      ${admin && html`<form id="site-form" class="register-form">
        <label>${t("people.site.person")}<select id="site-person">${personOptions}</select></label>
        <label>${t("people.site.role")}<select id="site-role">${SITE_ROLES.map((r) => html`<option value="${r}">${t("siterole." + r)}</option>`)}</select></label>
        <button type="submit" id="site-add">${t("people.site.add")}</button>
        <p id="site-msg" class="msg" role="status"></p>
      </form>`}
    </section>
    <section class="people-roster">
      <h3>${t("people.roster.title")}</h3>
      <table class="grid" id="people-roster"><tr>${["people.people.division", "people.people.name", "people.people.phone", "people.roster.duty", "people.roster.starts", "people.roster.ends", ""].map((k) => html`<th>${k ? t(k) : ""}</th>`)}</tr>${
        roster.map((r) => html`<tr data-roster="${r.id}"><td>${r.division_name}</td><td>${r.person_name}</td><td>${r.phone || t("common.none")}</td><td>${r.role === "duty_officer" ? t("role.duty_officer") : r.role}</td><td>${fmtTime(r.starts_at)}</td><td>${fmtTime(r.ends_at)}</td>
          <td>${admin && html`<button type="button" class="roster-remove" data-id="${r.id}">${t("people.roster.remove")}</button>`}</td></tr>`)}</table>
      ${admin && html`<form id="roster-form" class="register-form">
        <label>${t("people.people.division")}<select id="roster-division">${divisionOptions}</select></label>
        <label>${t("people.site.person")}<select id="roster-person">${personOptions}</select></label>
        <label>${t("people.roster.starts")}（${zoneLabel()}）<input id="roster-starts" placeholder="${t("people.roster.time_hint")}"></label>
        <label>${t("people.roster.ends")}（${zoneLabel()}）<input id="roster-ends" placeholder="${t("people.roster.time_hint")}"></label>
        <label>${t("people.roster.duty")}<input id="roster-role" placeholder="${t("role.duty_officer")}"></label>
        <button type="submit" id="roster-add">${t("people.roster.add")}</button>
        <p id="roster-msg" class="msg" role="status"></p>
      </form>`}
    </section>
    ${admin && html`<section class="people-officers">
      <h3>${t("people.officers.title")}</h3>
      ${shownSecret("officers")}
      <table class="grid" id="people-officers"><tr>${["people.officers.username", "people.people.name", "people.people.division", "people.officers.role", "people.officers.state", ""].map((k) => html`<th>${k ? t(k) : ""}</th>`)}</tr>${
        officers.map((o) => html`<tr data-officer="${o.username}"><td>${o.username}</td><td>${o.display_name}</td><td>${o.division_name}</td><td>${t("role." + o.role)}</td>
          <td>${t(o.disabled ? "people.officers.disabled" : "people.officers.active")}</td>
          <td>${o.id !== state.officer?.id && html`<button type="button" class="officer-toggle" data-id="${o.id}" data-disabled="${o.disabled ? "1" : ""}">${t(o.disabled ? "people.officers.enable" : "people.officers.disable")}</button>`}
            <button type="button" class="officer-reset" data-id="${o.id}">${t("people.officers.reset")}</button></td></tr>`)}</table>
      <form id="officer-form" class="register-form">
        <label>${t("people.officers.username")}<input id="officer-username" required></label>
        <label>${t("people.people.name")}<input id="officer-name"></label>
        <label>${t("people.people.division")}<select id="officer-division">${divisionOptions}</select></label>
        <label>${t("people.officers.role")}<select id="officer-role">${ROLES.map((r) => html`<option value="${r}">${t("role." + r)}</option>`)}</select></label>
        <button type="submit" id="officer-create">${t("people.officers.create")}</button>
        <p id="officer-msg" class="msg" role="status"></p>
      </form>
    </section>`}`);
  $("site-pick")?.addEventListener("change", () => { siteShown = $("site-pick").value; redraw(); });
  if (!admin) return;
  for (const b of root.querySelectorAll(".gw-issue")) b.addEventListener("click", () => issueKey(/** @type {HTMLElement} */ (b).dataset.code || ""));
  for (const b of root.querySelectorAll(".gw-revoke")) b.addEventListener("click", () => revokeKey(/** @type {HTMLElement} */ (b).dataset.code || ""));
  $("gw-form").addEventListener("submit", (ev) => { ev.preventDefault(); registerGateway(); });
  $("person-form").addEventListener("submit", (ev) => { ev.preventDefault(); addPerson(); });
  $("site-form")?.addEventListener("submit", (ev) => { ev.preventDefault(); setSitePeople([...sitePeople.map((p) => ({ person_id: p.person_id, role: p.role })), { person_id: Number($("site-person").value), role: $("site-role").value }]); });
  for (const b of root.querySelectorAll(".site-remove")) b.addEventListener("click", () => { const i = Number(/** @type {HTMLElement} */ (b).dataset.index); setSitePeople(sitePeople.filter((_, j) => j !== i).map((p) => ({ person_id: p.person_id, role: p.role }))); });
  $("roster-form").addEventListener("submit", (ev) => { ev.preventDefault(); addRoster(); });
  for (const b of root.querySelectorAll(".roster-remove")) b.addEventListener("click", () => removeRoster(/** @type {HTMLElement} */ (b).dataset.id || ""));
  $("officer-form").addEventListener("submit", (ev) => { ev.preventDefault(); createOfficer(); });
  for (const b of root.querySelectorAll(".officer-toggle")) b.addEventListener("click", () => { const el = /** @type {HTMLElement} */ (b); toggleOfficer(el.dataset.id || "", !el.dataset.disabled); });
  for (const b of root.querySelectorAll(".officer-reset")) b.addEventListener("click", () => resetPassword(/** @type {HTMLElement} */ (b).dataset.id || ""));
}

/** Redraws the page, then shows `msg` in the line `id`. @param {string} [id] @param {{status: number, body: any}} [r] @param {string} [ok] */
async function redraw(id, r, ok) {
  if (!shownIn) return;
  await show(shownIn);
  if (id && r && ok !== undefined) tell(id, r, ok);
}

async function registerGateway() {
  try {
    const r = await send("POST", "/register/gateways", { code: $("gw-code").value.trim(), name: $("gw-name").value.trim(), site_id: Number($("gw-site").value) });
    if (r.status < 300) { secret = null; await redraw("gw-msg", r, t("people.gateways.registered", { code: r.body.code })); } else tell("gw-msg", r, "");
  } catch (e) { report(e); }
}

/** @param {string} code */
async function issueKey(code) {
  try {
    const r = await send("POST", `/register/gateways/${encodeURIComponent(code)}/key`);
    if (r.status === 200) {
      const broker = t("people.gateways.broker." + r.body.broker);
      secret = { id: "gw-key", section: "gateways", text: t("people.gateways.key_shown", { code, key: r.body.key, broker }) };
      await redraw();
    } else { secret = { id: "gw-key-error", section: "gateways", text: (r.body && r.body.error) || String(r.status) }; await redraw(); }
  } catch (e) { report(e); }
}

/** @param {string} code */
async function revokeKey(code) {
  if (!confirm(t("people.gateways.revoke_confirm", { code }))) return;
  try {
    const r = await send("DELETE", `/register/gateways/${encodeURIComponent(code)}/key`);
    secret = null;
    await redraw("gw-msg", r, t("people.gateways.revoked", { code }));
  } catch (e) { report(e); }
}

async function addPerson() {
  try {
    const r = await send("POST", "/register/people", { name: $("person-name").value.trim(), phone: $("person-phone").value.trim() || null, division_code: $("person-division").value });
    if (r.status < 300) await redraw("person-msg", r, t("people.people.added", { name: r.body.name })); else tell("person-msg", r, "");
  } catch (e) { report(e); }
}

/** @param {{person_id: number, role: string}[]} list */
async function setSitePeople(list) {
  try {
    const r = await send("PUT", `/sites/${siteShown}/people`, { people: list });
    if (r.status < 300) await redraw("site-msg", r, t("people.site.saved")); else tell("site-msg", r, "");
  } catch (e) { report(e); }
}

async function addRoster() {
  try {
    const r = await send("POST", "/register/roster", {
      division_code: $("roster-division").value, person_id: Number($("roster-person").value),
      starts_at: zonedInstant($("roster-starts").value), ends_at: zonedInstant($("roster-ends").value),
      role: $("roster-role").value.trim() || null,
    });
    if (r.status < 300) await redraw("roster-msg", r, t("people.roster.added", { name: r.body.person_name })); else tell("roster-msg", r, "");
  } catch (e) { report(e); }
}

/** @param {string} id */
async function removeRoster(id) {
  try { await redraw("roster-msg", await send("DELETE", `/register/roster/${id}`), t("people.roster.removed")); } catch (e) { report(e); }
}

async function createOfficer() {
  try {
    const r = await send("POST", "/officers", { username: $("officer-username").value.trim(), display_name: $("officer-name").value.trim() || null, division_code: $("officer-division").value, role: $("officer-role").value });
    if (r.status === 201) {
      secret = { id: "officer-password", section: "officers", text: t("people.officers.password_shown", { username: r.body.officer.username, password: r.body.password }) };
      await redraw();
    } else tell("officer-msg", r, "");
  } catch (e) { report(e); }
}

/** @param {string} id @param {boolean} disable */
async function toggleOfficer(id, disable) {
  try {
    const r = await send("PUT", `/officers/${id}`, { disabled: disable });
    await redraw("officer-msg", r, t(disable ? "people.officers.disabled_done" : "people.officers.enabled_done"));
  } catch (e) { report(e); }
}

/** @param {string} id */
async function resetPassword(id) {
  try {
    const r = await send("POST", `/officers/${id}/password`);
    if (r.status === 200) {
      secret = { id: "officer-password", section: "officers", text: t("people.officers.password_shown", { username: r.body.officer.username, password: r.body.password }) };
      await redraw();
    } else tell("officer-msg", r, "");
  } catch (e) { report(e); }
}

registerPage({
  name: "people",
  label: "people.page.tab",
  allowed: (o) => ["viewer", "duty_officer", "supervisor", "admin"].includes(o.role),
  show,
  hide() {
    shownIn = null;
    // A key or password is shown once: leaving the page forgets it.
    secret = null;
  },
});

subscribe(["lang"], () => { if (shownIn) show(shownIn); });
