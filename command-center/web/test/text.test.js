import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { ago, fmtTime, num, setTimeZone, sourceText, t, zoneHour } from "../lib/text.js";
import { catalogue, useCatalogue } from "./catalogue.js";

test("texts come in the console's language, with their parameters", () => {
  useCatalogue("zh-CN");
  assert.equal(t("level.red"), "红色");
  assert.equal(t("feed.sites", { n: 3 }), catalogue["feed.sites"]["zh-CN"].replace("{n}", "3"));
  useCatalogue("en");
  assert.equal(t("level.red"), "Red");
  useCatalogue("zh-CN");
});

test("a key the catalogue lacks is shown marked, not as if it were a text", () => {
  useCatalogue();
  assert.equal(t("no.such.key"), "⟦no.such.key⟧");
});

test("every catalogue entry has both languages", () => {
  for (const [key, texts] of Object.entries(catalogue)) {
    assert.ok(texts["zh-CN"] && texts.en, key);
  }
});

test("every text the console's code names literally is in the catalogue", () => {
  const dir = new URL("../", import.meta.url);
  const files = ["main.js", ...["lib", "views"].flatMap((d) => readdirSync(new URL(d, dir)).map((f) => d + "/" + f))];
  const html = readFileSync(new URL("index.html", dir), "utf8");
  const keys = new Set([...html.matchAll(/data-t="([^"]+)"/g)].map((m) => m[1]));
  for (const f of files) {
    const source = readFileSync(new URL(f, dir), "utf8");
    for (const m of source.matchAll(/\bt\("([a-z0-9_.]*[a-z0-9_])"\s*[,)]/g)) keys.add(m[1]);
    for (const m of source.matchAll(/\["([a-z]+\.[a-z0-9_.]+)",/g)) keys.add(m[1]);
  }
  assert.ok(keys.size > 100, `found ${keys.size}`);
  const missing = [...keys].filter((k) => !(k in catalogue));
  assert.deepEqual(missing, []);
});

test("numbers drop trailing zeros and a missing one reads as none", () => {
  useCatalogue();
  assert.equal(num(35.2, 3), "35.2");
  assert.equal(num(30, 3), "30");
  assert.equal(num(null), t("common.none"));
});

test("a warning source reads as words", () => {
  useCatalogue();
  assert.equal(sourceText("threshold:gw-01/p-1"), t("source.threshold") + " · gw-01/p-1");
  assert.equal(sourceText("device:silent:gateway:gw-01"), t("source.device.silent") + " · " + t("source.gateway", { g: "gw-01" }));
  assert.equal(sourceText("site"), t("source.combined"));
});

test("how long ago, in seconds, minutes, hours and days", () => {
  useCatalogue();
  const now = Date.parse("2026-01-02T00:00:00Z");
  assert.equal(ago("2026-01-01T23:59:30Z", now), t("time.ago_s", { n: 30 }));
  assert.equal(ago("2026-01-01T23:50:00Z", now), t("time.ago_m", { n: 10 }));
  assert.equal(ago("2026-01-01T21:00:00Z", now), t("time.ago_h", { n: 3 }));
  assert.equal(ago("2025-12-30T00:00:00Z", now), t("time.ago_d", { n: 3 }));
  assert.equal(ago(null, now), t("health.never"));
});

test("a time is shown in the agency's zone, labelled, whatever zone the PC is in", () => {
  // 2026-12-07 02:36:00 UTC is 10:36 in Beijing; the test runs in the PC's zone, whatever it is.
  const ts = Date.UTC(2026, 11, 7, 2, 36, 0);
  useCatalogue("zh-CN");
  setTimeZone("Asia/Shanghai");
  const zh = fmtTime(ts);
  assert.match(zh, /10:36:00/);
  assert.ok(zh.endsWith("北京时间"), zh);
  useCatalogue("en");
  assert.ok(fmtTime(ts).endsWith("Beijing time"), fmtTime(ts));
  // Another agency's zone, with the browser's name for it; an unknown zone changes nothing.
  setTimeZone("Asia/Urumqi");
  assert.match(fmtTime(ts), /08:36:00 GMT\+6/);
  setTimeZone("Not/AZone");
  assert.match(fmtTime(ts), /08:36:00/);
  setTimeZone("Asia/Shanghai");
  assert.equal(zoneHour(ts), 10);
  useCatalogue("zh-CN");
});
