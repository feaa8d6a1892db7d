import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import vm from "node:vm";
import { CLUSTER_MAX_ZOOM, clusterCount, clusterOptions, clusterSize, levelOf, sitePoint } from "../lib/clusters.js";

// The very file the console loads, run as the page runs it: it leaves `Supercluster` global.
/** @type {any} */
const page = { performance };
vm.runInNewContext(readFileSync(new URL("../vendor/supercluster.min.js", import.meta.url), "utf8"), page);
const { Supercluster } = page;

/** `n` sites on a grid 0.02° wide, as the map gets them. @param {number} n */
const sites = (n) => Array.from({ length: n }, (_, i) => /** @type {any} */ ({
  code: `S-${i}`, location: { type: "Point", coordinates: [104.5 + (i % 101) * 0.0002, 28.5 + Math.floor(i / 101) * 0.0002] },
}));

test("10,009 sites far out are one cluster with their count in full, the worst level and the blink", () => {
  const all = sites(10009);
  const looks = new Map([["S-17", { level: /** @type {const} */ ("yellow"), blink: false }], ["S-9000", { level: /** @type {const} */ ("red"), blink: true }]]);
  const index = new Supercluster(clusterOptions()).load(all.map((s) => sitePoint(s, looks.get(s.code))));
  const [one, ...rest] = index.getClusters([-180, -85, 180, 85], 8);
  assert.equal(rest.length, 0);
  assert.equal(one.properties.point_count, 10009);
  assert.equal(levelOf(one.properties.rank), "red");
  assert.equal(one.properties.blink, true);
  assert.equal(clusterCount(one.properties.point_count, "zh-CN"), "10,009");
  assert.equal(clusterCount(one.properties.point_count, "en"), "10,009");
  assert.ok(clusterSize(10009) > clusterSize(9999));
});

test("without an unacknowledged warning nothing blinks, and an empty look is no level", () => {
  const all = sites(500);
  const looks = new Map([["S-3", { level: /** @type {const} */ ("orange"), blink: false }]]);
  const index = new Supercluster(clusterOptions()).load(all.map((s) => sitePoint(s, looks.get(s.code))));
  const [one] = index.getClusters([-180, -85, 180, 85], 8);
  assert.equal(levelOf(one.properties.rank), "orange");
  assert.equal(one.properties.blink, false);
  const plain = new Supercluster(clusterOptions()).load(sites(3).map((s) => sitePoint(s, undefined)));
  assert.equal(levelOf(plain.getClusters([-180, -85, 180, 85], 8)[0].properties.rank), null);
});

test("past the last clustered zoom every site stands alone with its code", () => {
  const all = sites(300);
  const index = new Supercluster(clusterOptions()).load(all.map((s) => sitePoint(s, undefined)));
  const alone = index.getClusters([-180, -85, 180, 85], CLUSTER_MAX_ZOOM + 1);
  assert.equal(alone.length, 300);
  assert.ok(alone.every((f) => !f.properties.cluster && f.properties.code.startsWith("S-")));
  // A cluster opens into smaller ones: its expansion zoom is deeper than where it was seen.
  const [c] = index.getClusters([-180, -85, 180, 85], 10);
  assert.ok(index.getClusterExpansionZoom(c.properties.cluster_id) > 10);
});
