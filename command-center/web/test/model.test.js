import assert from "node:assert/strict";
import { test } from "node:test";
import { fromLive, inDivision, siteLevel, siteLevels, siteVisible, warningVisible } from "../lib/model.js";

/** @param {number} id @param {string} site @param {any} level @param {any} state */
const w = (id, site, level, state, division = "511525") =>
  ({ id, site, siteName: site, division, source: "threshold:x", category: "hazard", level, state, summary: "", summary_zh: null, updated: id, raised: id });

test("a site takes the colour of its highest unclosed warning and blinks while one is urgent", () => {
  const ws = [w(1, "A", "yellow", "open"), w(2, "A", "red", "closed"), w(3, "A", "orange", "acknowledged"), w(4, "B", "red", "open")];
  assert.deepEqual(siteLevel(ws, "A"), { level: "orange", blink: false });
  assert.deepEqual(siteLevel(ws, "B"), { level: "red", blink: true });
  assert.deepEqual(siteLevel(ws, "C"), { level: null, blink: false });
});

test("a division lies in itself and in every division above it", () => {
  const parents = new Map([["511525", "511500"], ["511500", "510000"]]);
  assert.ok(inDivision(parents, "511525", "510000"));
  assert.ok(inDivision(parents, "511525", "511525"));
  assert.ok(!inDivision(parents, "511500", "511525"));
});

test("filters by level, kind and division", () => {
  const site = /** @type {any} */ ({ code: "A", type: "landslide", division: { code: "511525" } });
  const s = { warnings: new Map([[1, w(1, "A", "red", "open")]]), parents: new Map([["511525", "511500"]]), sites: new Map([["A", site]]),
    filters: { level: "", kind: "", division: "" } };
  assert.ok(siteVisible(s, site));
  s.filters = { level: "red", kind: "landslide", division: "511500" };
  assert.ok(siteVisible(s, site) && warningVisible(s, /** @type {any} */ (w(1, "A", "red", "open"))));
  s.filters = { level: "none", kind: "", division: "" };
  assert.ok(!siteVisible(s, site));
  s.filters = { level: "", kind: "rockfall", division: "" };
  assert.ok(!siteVisible(s, site));
});

test("a live change keeps when the warning was raised and names its site", () => {
  const old = /** @type {any} */ (w(7, "A", "yellow", "open"));
  old.raised = 100;
  const live = /** @type {any} */ ({ id: 7, site: "A", division: "511525", source: "s", category: "hazard", level: "red", state: "open", summary: "x", summary_zh: null, at: 500, transition: "escalated" });
  const now = fromLive(live, old, /** @type {any} */ ({ name: "庆岭" }));
  assert.equal(now.raised, 100);
  assert.equal(now.updated, 500);
  assert.equal(now.siteName, "庆岭");
});

test("every site's colour in one pass is each site's own colour", () => {
  const ws = [w(1, "A", "yellow", "open"), w(2, "A", "red", "closed"), w(3, "A", "orange", "acknowledged"), w(4, "B", "red", "open"), w(5, "C", "blue", "closed")];
  const all = siteLevels(ws);
  for (const code of ["A", "B", "C"]) assert.deepEqual(all.get(code) || { level: null, blink: false }, siteLevel(ws, code), code);
  const site = /** @type {any} */ ({ code: "C", type: "landslide", division: { code: "511525" } });
  const s = { warnings: new Map(ws.map((x) => [x.id, x])), parents: new Map(), sites: new Map([["C", site]]), filters: { level: "none", kind: "", division: "" } };
  assert.equal(siteVisible(s, site, all), siteVisible(s, site));
  s.filters.level = "blue";
  assert.equal(siteVisible(s, site, all), siteVisible(s, site));
});
