// What the time-series chart plots, apart from how it is drawn (chart.js):
// the series, their units and scales, the columns uPlot takes, with a break
// where the samples stopped coming, and the text of the hover tooltip. Pure.

/** The plotted series: sample key, legend label, unit, the y scale it is read on, its colour (a theme.js key). */
export const CHART_SERIES = Object.freeze([
  Object.freeze({ key: "flow", label: "flow", unit: "ev/s", scale: "flow", color: "active", title: "events per second over the gateway's 10 s window" }),
  Object.freeze({ key: "pressure", label: "pressure", unit: "%", scale: "pressure", color: "pressure", title: "how full the perturbation queue is, 0–100 %" }),
  Object.freeze({ key: "queueDepth", label: "queue", unit: "waiting", scale: "queue", color: "queue", title: "perturbations waiting in the queue" }),
]);

/** A break in the line: samples further apart than this many seconds (and 3 intervals). */
export const BREAK_S = 5;

const finite = (value) => (typeof value === "number" && Number.isFinite(value) ? value : null);

function typicalInterval(samples) {
  const steps = [];
  for (let i = 1; i < samples.length; i += 1) steps.push(samples[i].t - samples[i - 1].t);
  if (!steps.length) return 1;
  steps.sort((a, b) => a - b);
  return Math.max(0.05, steps[Math.floor(steps.length / 2)]);
}

/**
 * uPlot's columns for `samples` (`{t, flow, pressure, queueDepth}`, oldest
 * first): `[times, flow, pressure, queue]`, seconds on the x axis. Where the
 * samples stopped for a while (no observer, a reconnect), a null breaks each
 * line instead of drawing a straight one across the silence.
 */
export function chartColumns(samples) {
  const columns = [[], ...CHART_SERIES.map(() => [])];
  const list = (samples || []).filter((sample) => finite(sample?.t) !== null);
  const limit = Math.max(BREAK_S, 3 * typicalInterval(list));
  list.forEach((sample, i) => {
    if (i > 0 && sample.t - list[i - 1].t > limit) {
      columns[0].push((sample.t + list[i - 1].t) / 2);
      for (let s = 0; s < CHART_SERIES.length; s += 1) columns[s + 1].push(null);
    }
    columns[0].push(sample.t);
    CHART_SERIES.forEach((series, s) => {
      const value = finite(sample[series.key]);
      columns[s + 1].push(value === null ? null : Math.max(0, value));
    });
  });
  return columns;
}

/** "14:03:07" for seconds since the epoch, in the viewer's time zone. */
export function clockTime(seconds) {
  const date = new Date(seconds * 1000);
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

/** A value as the tooltip shows it. */
export function formatValue(series, value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  if (series.key === "flow") return `${value < 10 ? value.toFixed(2) : value.toFixed(1)} ev/s`;
  if (series.key === "pressure") return `${Math.round(value)} %`;
  return `${Math.round(value)} waiting`;
}

/** The tooltip at column index `idx`: `{time, rows: [{key, label, text}]}`, or null. */
export function tooltipAt(columns, idx) {
  if (!columns || idx === null || idx === undefined || idx < 0 || idx >= columns[0].length) return null;
  const rows = CHART_SERIES.map((series, s) => ({ key: series.key, label: series.label, text: formatValue(series, columns[s + 1][idx]) }));
  if (rows.every((row) => row.text === "–")) return null;
  return { time: clockTime(columns[0][idx]), rows };
}

/** "the last 4 min 10 s": how much history the chart holds. */
export function spanText(columns) {
  const times = columns?.[0] ?? [];
  if (times.length < 2) return "waiting for metabolism samples";
  const seconds = Math.round(times[times.length - 1] - times[0]);
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  return `the last ${minutes ? `${minutes} min${rest ? ` ${rest} s` : ""}` : `${rest} s`}`;
}
