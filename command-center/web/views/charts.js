// @ts-check
// Charts (uPlot): a sensor's readings with its threshold lines, and the inverse-velocity fit.
// uPlot sets labels as text; the values here are numbers and catalogue texts.

import { LEVELS } from "../lib/model.js";
import { t, zoned, zoneLabel } from "../lib/text.js";

export const CHART_W = 800, CHART_H = 200;

/**
 * @param {import("../types").ThresholdLines | null} th
 * @param {number} n
 */
function thresholdSeries(th, n) {
  const levels = th && th.levels;
  return LEVELS.filter((l) => levels && levels[l] !== undefined && levels[l] !== null).map((l) => {
    const value = /** @type {number} */ (levels && levels[l]);
    return {
      label: t("level." + l), stroke: getComputedStyle(document.documentElement).getPropertyValue("--" + l).trim(), width: 1.5, dash: [6, 4],
      points: { show: false }, value, data: new Array(n).fill(value),
    };
  });
}

/** Time axis labels in the officer's language and the agency's zone, 24-hour clock. @param {unknown} u @param {number[]} splits */
function timeLabels(u, splits) {
  const span = splits.length > 1 ? splits[splits.length - 1] - splits[0] : 0;
  /** @type {Intl.DateTimeFormatOptions} */
  const opts = span > 20 * 86400 ? { month: "2-digit", day: "2-digit" }
    : span > 2 * 86400 ? { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false }
    : { hour: "2-digit", minute: "2-digit", hour12: false };
  return splits.map((v) => zoned(v * 1000, opts));
}

/** The time axis: its title names the zone; the legend's time on hover in the same zone, 24 h. */
const timeAxis = () => ({ values: timeLabels, space: 90, label: t("chart.time_in", { zone: zoneLabel() }) });
const timeSeries = () => ({ label: t("chart.time"),
  value: (/** @type {unknown} */ u, /** @type {number | null} */ v) => (v === null || v === undefined ? "--"
    : zoned(v * 1000, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }) + " " + zoneLabel()) });

/**
 * @param {HTMLElement} el
 * @param {string} unit
 * @param {number[]} xs seconds
 * @param {Array<{label: string, data: Array<number | null>, stroke?: string, bars?: boolean}>} series
 * @param {import("../types").ThresholdLines | null} th
 * @param {(() => [number, number]) | null} xRange
 */
export function chart(el, unit, xs, series, th, xRange) {
  const lines = thresholdSeries(th, xs.length);
  const data = [xs, ...series.map((s) => s.data), ...lines.map((l) => l.data)];
  // Keep the threshold lines in view: the y range covers the data and the lowest line.
  const values = /** @type {number[]} */ (series.flatMap((s) => s.data).filter((v) => v !== null));
  const lows = lines.map((l) => l.value);
  // Bars (rain totals) stand on zero.
  const bars = series.some((s) => s.bars);
  const lo = Math.min(...values, ...(lows.length ? [Math.min(...lows)] : []), ...(bars ? [0] : []));
  const hi = Math.max(...values, ...(lows.length ? [Math.min(...lows)] : []));
  const pad = (hi - lo) * 0.1 || 1;
  const bottom = bars && lo >= 0 ? 0 : lo - pad;
  return new uPlot({
    width: Math.min(CHART_W, el.clientWidth || CHART_W), height: CHART_H,
    scales: { x: { time: true, range: xRange ? () => xRange() : undefined }, y: { range: () => [bottom, hi + pad] } },
    axes: [timeAxis(), { label: unit }],
    // Threshold lines across the whole plot, not only under the data.
    hooks: { draw: [(/** @type {any} */ plot) => {
      const ctx = plot.ctx;
      for (const l of lines) {
        const y = plot.valToPos(l.value, "y", true);
        ctx.save();
        ctx.strokeStyle = l.stroke;
        ctx.lineWidth = 1.5 * devicePixelRatio;
        ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
        ctx.beginPath();
        ctx.moveTo(plot.bbox.left, y);
        ctx.lineTo(plot.bbox.left + plot.bbox.width, y);
        ctx.stroke();
        ctx.restore();
      }
    }] },
    series: [timeSeries(), ...series.map((s) => (s.bars
      ? { label: s.label, stroke: s.stroke || "#1e6fd9", fill: (s.stroke || "#1e6fd9") + "cc", width: 1, paths: uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false } }
      : { label: s.label, stroke: s.stroke || "#1d3557", width: 2, points: { show: xs.length < 60 } })),
      ...lines.map(({ value, data, ...l }) => l)],
  }, data, el);
}

/**
 * The inverse-velocity method: 1/v falls along a line that reaches zero at the forecast
 * failure time. Drawn from the fit (days from the evaluation time), over the fitted span and on
 * to the forecast.
 * @param {HTMLElement} el
 * @param {any} ev improved-tangent-angle evidence
 */
export function inversePlot(el, ev) {
  const iv = ev.inverse_velocity;
  const t0 = ev.ts / 1000;
  const back = (iv.bins || 1) * (iv.bin_h || 1) * 3600;
  const end = iv.failure_forecast_ts ? Math.max(iv.failure_forecast_ts / 1000, t0 + 3600) : t0 + back / 2;
  const n = 60, xs = [], ys = [];
  for (let i = 0; i <= n; i++) {
    const x = t0 - back + (end - t0 + back) * i / n;
    xs.push(x);
    ys.push(Math.max(0, iv.intercept + iv.slope_per_day * (x - t0) / 86400));
  }
  return new uPlot({
    width: Math.min(CHART_W, el.clientWidth || CHART_W), height: 160,
    scales: { x: { time: true } },
    axes: [timeAxis(), { label: "1/v (d/mm)" }],
    series: [timeSeries(), { label: "1/v", stroke: "#d81e06", width: 2, points: { show: false } }],
  }, [xs, ys], el);
}
