// A sparkline of the last metabolism samples: flow as a soft filled area (scaled
// to the highest flow in view), pressure (0-100 %), temperature and turbulence
// (0-1) as thin lines over it. `SPARK_SERIES` is also what the legend shows.
// Its colours are the theme's (theme.js): JupyterLab's, or the dark look.

import { readTheme, withAlpha } from "./theme.js";

/** The sparkline shows the newest this many samples (the record keeps five minutes for the chart). */
export const SPARK_SIZE = 60;

/**
 * What the sparkline draws, in drawing order: sample key, legend label, the
 * theme colour it is drawn in (`theme`, a key of theme.js' THEME_VARS, and
 * `color`, the same as CSS for the legend), scale.
 */
export const SPARK_SERIES = Object.freeze([
  Object.freeze({ key: "flow", label: "flow", theme: "active", color: "var(--trm-active)", top: null, hint: "events/s, scaled to the highest in view" }),
  Object.freeze({ key: "pressure", label: "pressure", theme: "pressure", color: "var(--trm-chart-pressure)", alpha: 0.85, top: 100, hint: "0–100 %" }),
  Object.freeze({ key: "temperature", label: "temp", theme: "temp", color: "var(--trm-chart-temp)", top: 1, dash: [3, 2], hint: "0–1" }),
  Object.freeze({ key: "turbulence", label: "turbulence", theme: "critical", color: "var(--trm-critical)", top: 1, hint: "0–1, drawn once there is any" }),
]);

/** Points [x, y] in a w x h box for values scaled to `top` (y grows downward). */
export function sparkPoints(values, width, height, top, pad = 2) {
  const n = values.length;
  if (n === 0) return [];
  const span = Math.max(1, n - 1);
  const scale = top > 0 ? top : 1;
  return values.map((value, i) => {
    const v = Math.min(1, Math.max(0, (Number(value) || 0) / scale));
    return [pad + ((width - 2 * pad) * i) / span, height - pad - (height - 2 * pad) * v];
  });
}

/**
 * The lines to draw for `samples`: `[{series, values, top}]`. Flow is scaled to
 * its highest value in view (at least 1 ev/s, with headroom); turbulence is
 * left out while every sample has none, so a calm agent's line does not hide
 * the floor.
 */
export function sparkLines(samples) {
  const lines = [];
  for (const series of SPARK_SERIES) {
    const values = samples.map((sample) => {
      const value = Number(sample?.[series.key]);
      return Number.isFinite(value) ? Math.max(0, value) : 0;
    });
    if (series.key === "turbulence" && !values.some((value) => value > 0)) continue;
    const top = series.top ?? Math.max(1, ...values) * 1.15;
    lines.push({ series, values, top });
  }
  return lines;
}

/** The legend's tooltip: every series and its scale. */
export function sparkLegendTitle() {
  const series = SPARK_SERIES.map((s) => `${s.label} (${s.hint})`).join(", ");
  return `The last ${SPARK_SIZE} metabolism samples (one per metrics interval, 1 s by default): ${series}.`;
}

/** Draw the newest SPARK_SIZE of `samples` in the theme's colours (read from the canvas' CSS). */
export function drawSparkline(canvas, allSamples, theme = readTheme(canvas)) {
  const samples = allSamples.length > SPARK_SIZE ? allSamples.slice(-SPARK_SIZE) : allSamples;
  const ratio = Math.min(2, globalThis.devicePixelRatio || 1);
  const width = Math.max(1, Math.round((canvas.clientWidth || 160) * ratio));
  const height = Math.max(1, Math.round((canvas.clientHeight || 28) * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = withAlpha(theme.dim, 0.3);
  ctx.lineWidth = ratio;
  ctx.setLineDash([]);
  ctx.beginPath();
  ctx.moveTo(0, height - ratio);
  ctx.lineTo(width, height - ratio);
  ctx.stroke();
  if (samples.length < 2) return;

  for (const { series, values, top } of sparkLines(samples)) {
    const points = sparkPoints(values, width, height, top, 2 * ratio);
    if (series.key === "flow") {
      ctx.beginPath();
      ctx.moveTo(points[0][0], height);
      for (const [x, y] of points) ctx.lineTo(x, y);
      ctx.lineTo(points[points.length - 1][0], height);
      ctx.closePath();
      ctx.fillStyle = withAlpha(theme[series.theme], 0.16);
      ctx.fill();
    }
    ctx.beginPath();
    points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.strokeStyle = series.alpha ? withAlpha(theme[series.theme], series.alpha) : theme[series.theme];
    ctx.lineWidth = (series.key === "flow" ? 1.5 : 1) * ratio;
    ctx.setLineDash((series.dash ?? []).map((d) => d * ratio));
    ctx.stroke();
  }
  ctx.setLineDash([]);
}
