// What the command-center's API answers, as the console reads it (checked by `tsc --noEmit`).

import type { Html } from "./lib/html.js";

/** What an `html` template takes: text, numbers, markup, or lists of them. */
export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

export type Lang = "zh-CN" | "en";
export type Level = "blue" | "yellow" | "orange" | "red";
export type WarningState = "open" | "acknowledged" | "closed";

/** crates/domain/messages/*.json: key → text in each language. */
export type Catalogue = Record<string, { "zh-CN": string; en: string }>;

export interface Officer {
  id: number;
  username: string;
  display_name: string;
  division_code: string;
  role: "viewer" | "duty_officer" | "supervisor" | "admin" | "field_staff" | "village_monitor";
}
/** GET /api/v1/me */
export interface Me extends Officer {
  csrf_token: string;
}
/** POST /api/v1/login with "cookie": true */
export interface LoginAnswer {
  token?: string;
  csrf_token: string;
  expires_at: string;
  officer: Officer;
}

export interface ConsoleSettings {
  tile_url: string | null;
  tile_attribution: string;
  time_zone: string;
}

export interface Division {
  code: string;
  name: string;
  level: "province" | "city" | "county" | "township";
  parent_code: string | null;
  boundary: object | null;
}

export interface Site {
  id: number;
  code: string;
  name: string;
  type: string;
  status: string;
  division: { code: string; name: string };
  location: { type: "Point"; coordinates: [number, number] };
  warning_level: Level | null;
}

export interface Sensor {
  id: number;
  channel: string;
  kind: string;
  unit: string;
}

export interface SiteDetail extends Site {
  scale_class: string | null;
  volume_m3: number | null;
  threatened_people: number;
  threatened_property: number;
  threat_zone: object | null;
  sensors: Sensor[];
  warnings: Array<{ id: number; level: Level; summary: string; summary_zh: string | null }>;
}

export interface Person {
  name: string;
  phone: string | null;
  role: string;
}

export interface Gateway {
  code: string;
  online: boolean;
  last_seen_at: string | null;
  battery_pct: number | null;
  supply_v: number | null;
  signal_dbm: number | null;
  queue_depth: number | null;
}

export interface Camera {
  gateway: string;
  camera: string;
  latest_id: number;
  captured_at: string;
}

/** What every description of a warning has. */
interface WarningCore {
  id: number;
  division: string;
  source: string;
  category: "hazard" | "device";
  level: Level;
  state: WarningState;
  summary: string;
  summary_zh: string | null;
}

/** A warning as GET /api/v1/warnings lists it. */
export interface Warning extends WarningCore {
  site: { id: number; code: string; name: string };
  raised_at: string;
  updated_at: string;
}

export interface WarningEvent {
  transition: string;
  to_level: Level | null;
  actor: "analyzer" | "person";
  person: string | null;
  at: string;
  evidence: { note?: string } | null;
}

/** GET /api/v1/warnings/{id} */
export interface WarningDetail extends Warning {
  peak_level: Level;
  crossings: number;
  reading_ts: string | null;
  failure_forecast_at: string | null;
  acknowledged_by: string | null;
  acknowledged_at: string | null;
  evidence: ({ method?: string } & Record<string, unknown>) | null;
  events: WarningEvent[];
  deliveries: WarningDelivery[];
}

/** A warning as the live feed sends it. */
export interface LiveWarning extends WarningCore {
  site: string;
  at: number;
  transition: string;
}

/** The one shape the console keeps of a warning. */
export interface ConsoleWarning extends WarningCore {
  site: string;
  siteName: string;
  updated: number;
  raised: number;
  transition?: string;
}

/** A notice from the center to this officer. */
export interface Notification {
  type: "notification";
  id: number;
  warning_id: number | null;
  level: Level | null;
  text_zh: string;
  text_en: string;
  created_at: string;
}

export type LiveMessage =
  | { type: "ready"; officer: string; divisions: number; feeds: string[] }
  | { type: "warning"; warning: LiveWarning }
  | { type: "resync"; missed: number }
  | { type: "session_ended" }
  | { type: "readings"; sensor: number; points: Point[] }
  | { type: "incident"; id: number }
  | { type: "deliveries"; warning: number }
  | { type: "field_report"; id: number }
  | { type: "patrol"; id: number }
  | { type: "error"; message: string }
  | Notification;

/** A raw reading. */
export interface Point {
  ts: string;
  value: number;
}

export interface ThresholdLines {
  sensor: number;
  direction: "above" | "below" | null;
  levels: Partial<Record<Level, number | null>>;
  rain_windows_h?: number[] | null;
}

export interface Health {
  gateways: Array<Gateway & { site_name: string; firmware_version: string | null }>;
  silent_sensors: Array<{ site_code: string; gateway: string; kind: string; channel: string; sampling_interval_s: number; last_reading_at: string | null }>;
  quarantine: Array<{ gateway_code: string | null; reason: string; messages: number; last_at: string; detail: string }>;
}

declare global {
  /** Leaflet (vendor/), loaded before the modules. */
  const L: any;
  /** supercluster (vendor/): the map's clusters, computed once per change of the sites shown. */
  const Supercluster: any;
  /** uPlot (vendor/). */
  const uPlot: any;
}

export interface WarningDelivery {
  person: string;
  channel: "sms" | "app";
  reason: string;
  status: "pending" | "sending" | "sent" | "delivered" | "failed" | "rate_limited";
  attempts: number;
  created_at: string;
  sent_at: string | null;
  delivered_at: string | null;
  confirmed_at: string | null;
  last_error: string | null;
}
