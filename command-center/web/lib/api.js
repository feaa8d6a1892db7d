// @ts-check
// The command-center's API. The session is the HttpOnly `gh_session` cookie: no script here
// holds the token and no URL carries it. What changes something also sends the session's CSRF
// token, kept in memory only.

import { t } from "./text.js";

export class SessionEnded extends Error {}

/** An answer other than 2xx. */
export class ApiFailure extends Error {
  /** @param {string} message @param {number} status */
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export const session = {
  /** @type {string | null} */
  csrf: null,
  /** Called when the server no longer knows the session (401). @type {(message: string) => void} */
  onEnded: () => {},
};

/**
 * A JSON request to `/api/v1{path}`; a 401 ends the session (except on sign-in).
 * @param {string} path
 * @param {{method?: string, body?: string}} [options]
 * @returns {Promise<any>}
 */
export async function api(path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { "content-type": "application/json" };
  if (session.csrf) headers["x-csrf-token"] = session.csrf;
  const r = await fetch("/api/v1" + path, { ...options, headers, credentials: "same-origin" });
  if (r.status === 401 && path !== "/login") {
    session.onEnded(t("login.expired"));
    throw new SessionEnded();
  }
  const body = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw new ApiFailure((body && body.error) || r.statusText, r.status);
  return body;
}

/** A WebSocket URL on this server (the cookie goes with it). @param {string} path */
export function socketUrl(path) {
  return (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/api/v1" + path;
}

/** Logs what is not a session end. @param {unknown} e */
export function report(e) {
  if (e instanceof SessionEnded) return;
  console.error(e);
  document.dispatchEvent(new CustomEvent("gh:error", { detail: { message: String((e instanceof Error && e.stack) || e) } }));
}
