import assert from "node:assert/strict";
import { test } from "node:test";
import { markup } from "../lib/html.js";
import { renderEvidence } from "../views/evidence.js";
import { useCatalogue } from "./catalogue.js";

const thresholds = { blue: null, yellow: 10, orange: 20, red: 30 };
// One of each method the analyzer writes (analyzer/src/evidence.rs).
export const EVIDENCE = {
  threshold: { method: "threshold", ts: 1, value: 35.2, unit: "mm", direction: "above", thresholds, hysteresis: 0.5 },
  rate: { method: "rate", ts: 1, velocity_mm_per_day: 12.5, velocity_t: 6.1, velocity_se: 1, velocity_judged: 12, judged_window_h: 6, acceleration_mm_per_day2: 1.5, acceleration_t: 3.2, min_t: 3, fit_r2: 0.97, points: 48, spikes_rejected: 2, window_h: 24, thresholds },
  rainfall: { method: "rainfall", ts: 1, windows: [{ hours: 1, mm: 42, level: "orange", id_threshold_mm_per_h: 30, id_ratio: 1.4 }, { hours: 24, mm: 120, level: "red", id_threshold_mm_per_h: 4, id_ratio: 1.25 }], id_curve: {}, id_ratio_max: 1.4, id_level: "orange", antecedent: { k: 0.8, daily_mm: [10], effective_mm: 88.5, level: null, drained: false, active_mm: 0 } },
  improved_tangent_angle: { method: "improved_tangent_angle", ts: 1700000000000, alpha_deg: 86.2, velocity_mm_per_day: 9.5, velocity_se: 0.1, velocity_z: 2, steady_velocity_mm_per_day: 0.5, steady_from: "configured", points: 36, spikes_rejected: 0, window_h: 6, thresholds_deg: { blue: 45, yellow: 80, orange: 85, red: 89 }, inverse_velocity: { method: "inverse_velocity", bins: 6, bin_h: 4, smooth_h: 8, slope_per_day: -0.0125, intercept: 0.1, r2: 0.93, slope_t: -5, failure_forecast_ts: 1700086400000, band_h: 6, accepted: true }, failure_forecast_ts: 1700086400000, failure_band_h: 6 },
  gateway_status: { method: "gateway_status", status: { online: true, ts: 1, firmware: "1.4.2", uptime_s: 100, queue_depth: 3, supply_v: 11.2, battery_pct: 18, signal_dbm: -97, faults: [{ channel: "crack-1", device: "rs485-1", slave: 3, error: "timeout", since: 1700000000000 }] }, min_battery_pct: 20, min_supply_v: 11.5 },
  silence: { method: "silence", gateway: "gw-gx1", silent_for_s: 5400, limit_s: 1800 },
  stuck: { method: "stuck", value: 12.345, identical_samples: 30, limit: 24, ts: 1700000000000 },
  combined: { method: "combined", rain_level: "orange", displacement_level: "yellow", raise_by: 1 },
};

test("every evidence method reads as words and numbers, in Chinese, with no text missing", () => {
  useCatalogue("zh-CN");
  for (const [method, ev] of Object.entries(EVIDENCE)) {
    const out = markup(renderEvidence({ level: "red" }, ev));
    assert.ok(!out.includes("⟦"), `${method}: ${out}`);
    assert.ok(!out.includes("{\""), `${method} falls back to JSON: ${out}`);
    assert.ok(!out.includes(method === "rainfall" ? "unknown" : "未知判据"), method);
  }
});

test("the numbers that fired are shown", () => {
  useCatalogue("zh-CN");
  const text = (/** @type {string} */ m) => markup(renderEvidence({ level: "red" }, /** @type {any} */ (EVIDENCE)[m]));
  assert.match(text("threshold"), /35\.2 mm/);
  assert.match(text("rate"), /12\.5 mm\/d/);
  assert.match(text("rainfall"), /88\.5 mm/);
  assert.match(text("improved_tangent_angle"), /86\.2°/);
  assert.match(text("gateway_status"), /18 %.*20 %/s);
  assert.match(text("gateway_status"), /crack-1（rs485-1 从站 3）：timeout/);
  assert.match(text("silence"), /1\.5 小时.*30 分钟/s);
  assert.match(text("stuck"), /<b>30<\/b>/);
  assert.match(text("combined"), /橙色.*黄色.*1 级/s);
});

test("a silence that ended reads as the time it was heard again", () => {
  useCatalogue("zh-CN");
  const out = markup(renderEvidence({ level: "red" }, { method: "silence", ts: 1700000000000 }));
  assert.match(out, /恢复上报时间/);
});

test("text inside evidence is escaped, whatever the method", () => {
  useCatalogue("zh-CN");
  const evil = "<img src=//127.0.0.2/e>";
  for (const ev of [{ ...EVIDENCE.threshold, unit: evil }, { ...EVIDENCE.silence, gateway: evil }, { method: "future", note: evil }]) {
    const out = markup(renderEvidence({ level: "red" }, ev));
    assert.ok(!out.includes("<img"), out);
  }
});
