// @ts-check
// Online approval on the console (网上审批): each person's own queue with its counts (waiting on
// them, overdue among those, their requests returned for changes, their requests pending with
// others), and a request's view with its workflow's steps, its form, its full history and the
// actions the person may take (approve, reject, return, comment, withdraw, file again). What is
// shown is what the server holds; the server decides whether an action stands.

import { api, ApiFailure, report } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { registerPage } from "../lib/pages.js";
import { state, subscribe } from "../lib/store.js";
import { fmtTime, getLang, hasText, num, t } from "../lib/text.js";

/** @typedef {{to_act: number, overdue: number, returned: number, mine_pending: number}} Counts */
/** @typedef {{id: number, kind: string, kind_zh: string, kind_en: string, division_code: string, division_name: string, title: string, form: Record<string, any>, attachments: {name: string, ref: string}[], requested_by: number, requested_by_name: string, state: string, step: number, steps: number, step_zh: string, step_en: string, step_level: string, step_since: string, step_due_at: string | null, overdue: boolean, created_at: string, updated_at: string, closed_at: string | null}} Instance */
/** @typedef {{level: string, roles: string[], due_s: number, remind_before_s: number, name_zh: string, name_en: string}} Step */
/** @typedef {{id: number, at: string, officer_id: number | null, officer_name: string | null, action: string, step: number, state_after: string, comment: string}} Event */

const BOXES = ["to_act", "mine", "all"];

const view = {
  /** @type {HTMLElement | null} */ root: null,
  /** @type {number | null} */ shown: null,
  box: "to_act",
  /** The last action's outcome: [message key or text, ok?]. @type {[string, boolean] | null} */ note: null,
};

/** Chinese or English of a pair the server gives. @param {string} zh @param {string} en */
const pick = (zh, en) => (getLang() === "en" && en ? en : zh);

/** @param {string} key @param {string} raw */
const textOr = (key, raw) => (hasText(key) ? t(key) : raw);

/** @param {Instance} i */
function due(i) {
  if (!i.step_due_at || i.state !== "pending") return t("common.none");
  return fmtTime(i.step_due_at);
}

/** @param {Instance} i */
function stateChip(i) {
  return html`<span class="chip astate-${i.state}" data-state="${i.state}">${t("approvals.state." + i.state)}</span>${i.overdue ? html` <span class="chip overdue">${t("approvals.overdue")}</span>` : ""}`;
}

/** @param {Counts} c */
function counts(c) {
  const box = (/** @type {string} */ key, /** @type {number} */ n, /** @type {string} */ cls) =>
    html`<div class="count ${cls}" id="approvals-count-${key}"><b>${n}</b><span>${t("approvals.count." + key)}</span></div>`;
  return html`<div class="counts">${box("to_act", c.to_act, "")}${box("overdue", c.overdue, c.overdue ? "bad" : "")}${box("returned", c.returned, c.returned ? "warn" : "")}${box("mine_pending", c.mine_pending, "")}</div>`;
}

/** @param {Counts} c @param {Instance[]} items */
function queue(c, items) {
  return html`<h2>${t("approvals.title")}</h2>
    ${counts(c)}
    <div class="boxes">${BOXES.map((b) => html`<button type="button" class="tab${view.box === b ? " active" : ""}" data-box="${b}">${t("approvals.box." + b)}</button>`)}</div>
    ${items.length ? html`<table class="grid" id="approvals-list"><tr><th>${t("approvals.request")}</th><th>${t("approvals.kind")}</th><th>${t("approvals.division")}</th><th>${t("approvals.proposer")}</th><th>${t("approvals.state")}</th><th>${t("approvals.step")}</th><th>${t("approvals.due")}</th><th>${t("approvals.updated")}</th></tr>
      ${items.map((i) => html`<tr class="clickable${i.overdue ? " late" : ""}" data-approval="${i.id}"><td>${i.title}</td><td>${pick(i.kind_zh, i.kind_en)}</td><td>${i.division_name}</td><td>${i.requested_by_name}</td><td>${stateChip(i)}</td><td>${i.state === "pending" || i.state === "returned" ? pick(i.step_zh, i.step_en) : t("common.none")}</td><td>${due(i)}</td><td>${fmtTime(i.updated_at)}</td></tr>`)}</table>`
      : html`<p id="approvals-empty">${t("approvals.none")}</p>`}`;
}

/** A form value as a person reads it. @param {string} field @param {any} v */
function value(field, v) {
  if (v === null || v === undefined || v === "") return t("common.none");
  if (field === "kind") return textOr("kind." + v, String(v));
  if (field === "risk_level") return textOr("approvals.risk." + v, String(v));
  if (field === "rule") return textOr("source." + v, String(v));
  if (typeof v === "number") return num(v, 6);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** Form fields in the order a person fills them in; others after. */
const FIELDS = ["code", "site_code", "name", "kind", "project_name", "builder", "assessment_org", "risk_level",
  "gateway_code", "plan_ref", "plan_title", "sensor_id", "rule", "params", "backtest_ref",
  "longitude", "latitude", "threatened_people", "threatened_property", "reason", "remediation", "notes"];
/** @param {string} field */
const order = (field) => (FIELDS.includes(field) ? FIELDS.indexOf(field) : FIELDS.length);

/** @param {Instance} i @param {Step[]} steps */
function stepsOf(i, steps) {
  return html`<ol class="steps" id="approval-steps">${steps.map((s, n) => {
    const where = i.state === "approved" || n < i.step ? "done" : n === i.step && (i.state === "pending" || i.state === "returned") ? "now" : n === i.step ? i.state : "later";
    return html`<li class="step-${where}" data-step="${n}"><b>${pick(s.name_zh, s.name_en)}</b><span>${t("approvals.level." + s.level)} · ${t("approvals.due_in", { h: num(s.due_s / 3600, 1) })}</span></li>`;
  })}</ol>`;
}

/** @param {Event} e @param {Step[]} steps */
function entry(e, steps) {
  const step = steps[e.step];
  return html`<li data-action="${e.action}"><b>${t("approvals.action." + e.action)}</b>
    · ${e.officer_name || t("approvals.system")}${step && e.action !== "submit" && e.action !== "resubmit" && e.action !== "withdraw" ? html` · ${pick(step.name_zh, step.name_en)}` : ""}
    ${e.action === "approve" ? html` → ${t("approvals.state." + e.state_after)}` : ""} · <time>${fmtTime(e.at)}</time>${e.comment ? html`<div class="note">${e.comment}</div>` : ""}</li>`;
}

/** What the signed-in person may try on `i` (the server decides). @param {Instance} i @param {Step[]} steps */
function actionsFor(i, steps) {
  const me = state.officer;
  if (!me) return [];
  const open = i.state === "pending" || i.state === "returned";
  if (!open) return [];
  const own = i.requested_by === me.id;
  const step = steps[i.step];
  const level = (state.divisions.find((d) => d.code === me.division_code) || { level: "" }).level;
  const mayDecide = !own && i.state === "pending" && !!step && step.roles.includes(me.role) && step.level === level;
  const out = [];
  if (mayDecide) out.push("approve", "return", "reject");
  out.push("comment");
  if (own && i.state === "returned") out.push("resubmit");
  if (own) out.push("withdraw");
  return out;
}

/** @param {Instance} i @param {Step[]} steps @param {Event[]} history */
function detail(i, steps, history) {
  const actions = actionsFor(i, steps);
  const form = Object.entries(i.form || {}).sort(([a], [b]) => order(a) - order(b));
  return html`<p><button type="button" id="approval-back" class="link">${t("approvals.back")}</button></p>
    <h2 id="approval-title">${i.title} ${stateChip(i)}</h2>
    <dl class="kv">
      <dt>${t("approvals.kind")}</dt><dd>${pick(i.kind_zh, i.kind_en)}</dd>
      <dt>${t("approvals.division")}</dt><dd>${i.division_name}（${i.division_code}）</dd>
      <dt>${t("approvals.proposer")}</dt><dd>${i.requested_by_name}</dd>
      <dt>${t("approvals.filed")}</dt><dd>${fmtTime(i.created_at)}</dd>
      <dt>${t("approvals.due")}</dt><dd>${due(i)}</dd>
    </dl>
    <h3>${t("approvals.steps")}</h3>
    ${stepsOf(i, steps)}
    <div class="approval-split">
      <div>
        <h3>${t("approvals.form")}</h3>
        ${form.length ? html`<dl class="kv" id="approval-form">${form.map(([k, v]) => html`<dt>${textOr("approvals.field." + k, k)}</dt><dd>${value(k, v)}</dd>`)}</dl>` : html`<p>${t("common.none")}</p>`}
        <h3>${t("approvals.attachments")}</h3>
        ${i.attachments && i.attachments.length ? html`<ul>${i.attachments.map((a) => html`<li>${a.name} · ${a.ref}</li>`)}</ul>` : html`<p>${t("common.none")}</p>`}
        ${actions.length ? html`<h3>${t("approvals.act")}</h3>
          <div class="ack-box approval-act">
            <textarea id="approval-comment" placeholder="${t("approvals.comment_hint")}"></textarea>
            <p class="actions">${actions.map((a) => html`<button type="button" class="big act-${a}" data-act="${a}">${t("approvals.do." + a)}</button> `)}</p>
            <p id="approval-msg" class="msg${view.note && view.note[1] ? " ok" : ""}" role="status">${view.note ? view.note[0] : ""}</p>
          </div>` : ""}
      </div>
      <div>
        <h3>${t("approvals.history")}</h3>
        <ol class="timeline" id="approval-history">${history.map((e) => entry(e, steps))}</ol>
      </div>
    </div>`;
}

async function showQueue() {
  view.shown = null;
  const root = view.root;
  if (!root) return;
  try {
    const q = await api("/approvals?box=" + view.box);
    if (view.shown !== null) return;
    render(root, queue(q.counts, q.items));
    for (const b of /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll("[data-box]"))) {
      b.addEventListener("click", () => { view.box = b.dataset.box || "to_act"; showQueue(); });
    }
    for (const row of /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll("[data-approval]"))) {
      row.addEventListener("click", () => { view.note = null; openApproval(Number(row.dataset.approval)); });
    }
    document.dispatchEvent(new CustomEvent("gh:approvals-shown", { detail: { counts: q.counts, items: q.items.length } }));
  } catch (e) { report(e); }
}

/** Why an action was refused, in the person's language. @param {unknown} e */
function refusal(e) {
  if (e instanceof ApiFailure) {
    if (e.status === 409) return t("approvals.refused.taken");
    if (e.status === 403) return t("approvals.refused.forbidden");
    if (e.status === 422) return t("approvals.refused.invalid");
  }
  return t("approvals.refused.error");
}

/** @param {number} id */
export async function openApproval(id) {
  view.shown = id;
  const root = view.root;
  if (!root) return;
  try {
    /** @type {{instance: Instance, steps: Step[], history: Event[]}} */
    const d = await api("/approvals/" + id);
    if (view.shown !== id) return;
    render(root, detail(d.instance, d.steps, d.history));
    root.querySelector("#approval-back")?.addEventListener("click", () => { view.note = null; showQueue(); });
    for (const b of /** @type {NodeListOf<HTMLButtonElement>} */ (root.querySelectorAll("[data-act]"))) {
      b.addEventListener("click", async () => {
        const action = b.dataset.act || "";
        const comment = /** @type {HTMLTextAreaElement} */ (root.querySelector("#approval-comment")).value;
        /** @type {Record<string, any>} */
        const body = { action, comment };
        if (action === "approve" || action === "reject" || action === "return") body.step = d.instance.step;
        if (action === "resubmit") body.form = d.instance.form;
        b.disabled = true;
        try {
          await api("/approvals/" + id + "/actions", { method: "POST", body: JSON.stringify(body) });
          view.note = [t("approvals.done." + action), true];
        } catch (e) {
          report(e);
          view.note = [refusal(e), false];
        }
        openApproval(id);
      });
    }
    document.dispatchEvent(new CustomEvent("gh:approval-shown", { detail: { id, state: d.instance.state, history: d.history.map((e) => e.action) } }));
  } catch (e) { report(e); }
}

registerPage({
  name: "approvals",
  label: "approvals.tab",
  allowed: (officer) => ["duty_officer", "supervisor", "admin"].includes(officer.role),
  show(root) {
    view.root = root;
    if (view.shown !== null) openApproval(view.shown);
    else showQueue();
  },
});

subscribe(["lang"], () => {
  const root = view.root;
  if (!root || root.hidden) return;
  if (view.shown !== null) openApproval(view.shown);
  else showQueue();
});
