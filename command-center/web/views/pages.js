// @ts-check
// Every page beyond the map and device health, each in its own module that calls
// `registerPage` (lib/pages.js) when imported. One import a page; the order is the tabs' order.
import "./consult.js";
import "./incidents.js";
import "./register.js";
import "./approvals.js";
import "./supervision.js";
import "./people.js";
import "./lists.js";
import "./field.js";
import "./forecast.js";
// Divisions (issue 24).
import "./divisions.js";
