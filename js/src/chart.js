// The metabolism chart: flow, pressure and queue depth over the record's
// last five minutes of samples, drawn by uPlot (a small canvas time-series
// library) with a time axis, one y axis per unit (ev/s on the left, % and
// queue on the right) and a tooltip that follows the mouse. Its colours are
// the theme's (theme.js), read again when JupyterLab switches theme.

import uPlot from "uplot";
import uplotCss from "uplot/dist/uPlot.min.css";

import { CHART_SERIES, chartColumns, spanText, tooltipAt } from "./chart_data.js";
import { h } from "./dom.js";
import { cssColor, readTheme, watchTheme, withAlpha } from "./theme.js";

/** uPlot's own stylesheet (cursor, overlay), put into the document once. */
function ensureChartStyles(doc) {
  if (doc.querySelector("style[data-terrarium-uplot]")) return;
  const style = doc.createElement("style");
  style.dataset.terrariumUplot = "";
  style.textContent = uplotCss;
  // Before Terrarium's own sheet, so that its `.trm` rules win.
  const ours = doc.querySelector("style[data-terrarium-styles]");
  if (ours) ours.before(style);
  else doc.head.append(style);
}

const MIN_SPAN_S = 60;
const integers = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000];

/**
 * @param height the plot's height in CSS pixels (its width follows its box)
 * @returns `{el, update(samples), destroy()}`
 */
export function createChart({ height = 180, label = "metabolism chart" } = {}) {
  const plotBox = h("div", { class: "trm-chart-plot", style: { height: `${height}px` } });
  const tip = h("div", { class: "trm-chart-tip", role: "tooltip", hidden: true });
  const span = h("span", { class: "trm-chart-span" });
  const legend = h(
    "div",
    { class: "trm-chart-legend" },
    CHART_SERIES.map((series) =>
      h(
        "span",
        { class: "trm-chart-key", dataset: { series: series.key }, title: `${series.label}: ${series.title} (${series.unit})` },
        h("span", { class: "trm-chart-swatch", "aria-hidden": "true", style: { background: cssColor(series.color) } }),
        `${series.label} `,
        h("small", {}, series.unit),
      ),
    ),
    span,
  );
  plotBox.append(tip);
  const el = h("figure", { class: "trm-chart", role: "group", "aria-label": label, dataset: { samples: "0" } }, plotBox, legend);

  let theme = readTheme(el);
  let columns = chartColumns([]);
  let plot = null;
  let alive = true;

  const color = (key) => theme[key];
  const grid = () => withAlpha(theme.dim, 0.22);

  function axis(scale, props = {}) {
    return {
      scale,
      stroke: () => color("dim"),
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1, size: 3 },
      border: { show: false },
      font: `11px ${theme.font}`,
      labelFont: `11px ${theme.font}`,
      gap: 3,
      ...props,
    };
  }

  function showTip(u) {
    const info = tooltipAt(columns, u.cursor.idx);
    if (!info || u.cursor.left === null || u.cursor.left < 0) {
      tip.hidden = true;
      el.removeAttribute("data-hover");
      return;
    }
    tip.replaceChildren(
      h("div", { class: "trm-chart-tip-time" }, info.time),
      ...info.rows.map((row) =>
        h(
          "div",
          { class: "trm-chart-tip-row", dataset: { series: row.key } },
          h("span", { class: "trm-chart-swatch", "aria-hidden": "true", style: { background: cssColor(CHART_SERIES.find((s) => s.key === row.key).color) } }),
          h("span", {}, row.label),
          h("b", {}, row.text),
        ),
      ),
    );
    tip.hidden = false;
    el.dataset.hover = "";
    const over = u.over.getBoundingClientRect();
    const box = plotBox.getBoundingClientRect();
    const x = over.left - box.left + u.cursor.left;
    const y = over.top - box.top + Math.max(0, u.cursor.top ?? 0);
    const width = tip.offsetWidth;
    const left = x + 14 + width > box.width ? x - 14 - width : x + 14;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${Math.max(0, Math.min(y - 10, box.height - tip.offsetHeight))}px`;
  }

  function make(width) {
    ensureChartStyles(el.ownerDocument || document);
    theme = readTheme(el);
    const opts = {
      width,
      height,
      legend: { show: false },
      select: { show: false },
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 7, width: 2 } },
      scales: {
        // At least a minute across, so that a young agent's few samples get readable ticks.
        x: {
          time: true,
          range: (_u, min, max) => {
            const end = Number.isFinite(max) ? max : Date.now() / 1000;
            const start = Number.isFinite(min) ? min : end;
            return [Math.min(start, end - MIN_SPAN_S), end];
          },
        },
        flow: { range: (_u, _min, max) => [0, Math.max(1, (Number(max) || 0) * 1.15)] },
        pressure: { range: [0, 100] },
        queue: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil((Number(max) || 0) * 1.2))] },
      },
      series: [
        {},
        ...CHART_SERIES.map((series) => ({
          label: series.label,
          scale: series.scale,
          stroke: () => color(series.color),
          width: series.key === "flow" ? 2 : 1.5,
          fill: series.key === "flow" ? () => withAlpha(color(series.color), 0.14) : undefined,
          dash: series.key === "queueDepth" ? [4, 3] : undefined,
          spanGaps: false,
          points: { show: false },
        })),
      ],
      axes: [
        axis("x", { space: 60 }),
        axis("flow", { label: "ev/s", labelSize: 14, size: 40 }),
        axis("pressure", { side: 1, label: "pressure %", labelSize: 14, size: 34, grid: { show: false } }),
        axis("queue", {
          side: 1,
          label: "queue",
          labelSize: 14,
          size: 30,
          grid: { show: false },
          incrs: integers,
          values: (_u, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : "")),
        }),
      ],
      hooks: { setCursor: [showTip] },
    };
    plot = new uPlot(opts, columns, plotBox);
    el.dataset.axes = String(opts.axes.length);
    el.dataset.ready = "";
  }

  function fit() {
    if (!alive) return;
    const width = Math.floor(plotBox.clientWidth);
    if (width < 40) return;
    if (plot === null) make(width);
    else if (Math.abs(plot.width - width) >= 1) plot.setSize({ width, height });
  }

  const resize = typeof ResizeObserver === "function" ? new ResizeObserver(() => fit()) : null;
  resize?.observe(plotBox);

  /** Follow a theme switch: new colours, same data. */
  function retheme() {
    const next = readTheme(el);
    if (next.key === theme.key) return;
    theme = next;
    if (plot) plot.redraw(false);
  }
  const unwatch = watchTheme(retheme);

  return {
    el,
    update(samples) {
      if (!alive) return;
      columns = chartColumns(samples);
      el.dataset.samples = String(samples.length);
      span.textContent = spanText(columns);
      if (columns[0].length < 2) {
        // Nothing to draw yet: an empty last minute, so that the axes read as they will.
        const end = columns[0][0] ?? Date.now() / 1000;
        columns = [[end - MIN_SPAN_S, end], ...CHART_SERIES.map(() => [null, null])];
      }
      if (plot === null) fit();
      retheme();
      if (plot) {
        plot.setData(columns);
        if (!tip.hidden) showTip(plot);
      }
    },
    destroy() {
      alive = false;
      resize?.disconnect();
      unwatch();
      plot?.destroy();
      plot = null;
    },
  };
}
