// One agent's tile: the DensityField and its legend, state, the four metabolism
// figures (pressure, flow, temperature, turbulence) with their units, observers,
// the agent's own event count (the seq of its latest event), a sparkline of
// metabolism samples with its legend, optionally the metabolism chart
// (AgentView) and the event log (full with its tools, or a short one).

import { createChart } from "./chart.js";
import { DensityField, FIELD_LEGEND, legendGradient } from "./densityfield.js";
import { batched, h } from "./dom.js";
import { createEventLog } from "./event_log.js";
import { VITALS, formatVital, vitalTitle } from "./format.js";
import { heatBand, heatOf, pressureLevel } from "./record.js";
import { SPARK_SERIES, drawSparkline, sparkLegendTitle } from "./sparkline.js";
import { watchTheme } from "./theme.js";

const LEGEND_STYLE = { display: "flex", flexWrap: "wrap", alignItems: "center", gap: "4px 10px", fontSize: "10px", color: "var(--trm-faint)" };

function vital(name, cls = "") {
  const spec = VITALS[name];
  const value = h("span", { class: "trm-vital-value" }, "–");
  const el = h(
    "div",
    { class: `trm-vital ${cls}`.trim(), dataset: { vital: name }, title: spec.title },
    h("span", { class: "trm-vital-label" }, spec.label),
    value,
  );
  return {
    el,
    value,
    show(figure, title = vitalTitle(name, figure)) {
      const { text, unit } = formatVital(name, figure);
      value.replaceChildren(text, ...(unit && text !== "–" ? [h("small", {}, ` ${unit}`)] : []));
      el.title = title;
    },
  };
}

function fieldLegend() {
  return h(
    "div",
    { class: "trm-legend trm-field-legend", title: FIELD_LEGEND.title, style: LEGEND_STYLE },
    h("span", {}, "heat"),
    h("span", { "aria-hidden": "true", style: { display: "inline-block", width: "56px", height: "6px", borderRadius: "3px", background: legendGradient() } }),
    h("span", {}, `${FIELD_LEGEND.bands[0].band} → ${FIELD_LEGEND.bands[FIELD_LEGEND.bands.length - 1].band}`),
    h("span", {}, "· ripple: event · tear: error"),
  );
}

function sparkLegend() {
  return h(
    "div",
    { class: "trm-legend trm-spark-legend", title: sparkLegendTitle(), style: LEGEND_STYLE },
    SPARK_SERIES.map((series) =>
      h(
        "span",
        { dataset: { series: series.key }, style: { display: "inline-flex", alignItems: "center", gap: "3px" } },
        h("span", {
          "aria-hidden": "true",
          style: {
            display: "inline-block",
            width: "10px",
            height: "0",
            borderTop: `2px ${series.dash ? "dashed" : "solid"} ${series.color}`,
          },
        }),
        series.label,
      ),
    ),
  );
}

/**
 * @param hub the AgentHub that carries this agent
 * @param agentId the agent to show
 * @param log "full" (AgentView), "short" (grid) or "none"
 * @param chart whether to draw the metabolism chart (AgentView's tile does)
 */
export function createTile(hub, agentId, { log = "full", chart = log === "full", onEvents = () => {} } = {}) {
  const name = h("span", { class: "trm-tile-name", title: agentId }, agentId);
  const genus = h("span", { class: "trm-tile-genus" });
  const badge = h("span", { class: "trm-pending-badge" });
  const state = h("span", { class: "trm-state" }, "…");
  const canvas = h("canvas", { class: "trm-field", "aria-label": `DensityField of ${agentId}` });
  const pressure = vital("pressure", "trm-pressure");
  const flow = vital("flow");
  const temperature = vital("temperature");
  const turbulence = vital("turbulence");
  const observers = vital("observers");
  const events = vital("events");
  const spark = h("canvas", { class: "trm-spark", "aria-hidden": "true" });
  const sparkLabel = h("span", { class: "trm-spark-label" });
  const conn = h("span", { class: "trm-conn" });
  const eventLog = log === "none" ? null : createEventLog({ variant: log === "short" ? "short" : "full", label: `events of ${agentId}` });
  const metabolism = chart ? createChart({ height: 170, label: `flow, pressure and queue depth of ${agentId}` }) : null;
  const el = h(
    "section",
    { class: `trm-tile${log === "full" ? " trm-tile--wide" : ""}`, dataset: { agent: agentId, events: "0" } },
    h("div", { class: "trm-tile-head" }, name, genus, badge, state),
    canvas,
    h(
      "div",
      { class: "trm-tile-side" },
      fieldLegend(),
      h(
        "div",
        { class: "trm-vitals" },
        pressure.el,
        flow.el,
        temperature.el,
        turbulence.el,
        observers.el,
        events.el,
      ),
      spark,
      sparkLegend(),
      h("div", { class: "trm-spark-row" }, sparkLabel, conn),
    ),
    metabolism ? h("div", { class: "trm-tile-chart" }, metabolism.el) : null,
    eventLog?.el,
  );

  const field = new DensityField(canvas, () => {
    const record = hub.record(agentId);
    return record ? { heat: heatOf(record), state: record.state } : { heat: 0, state: "dormant" };
  }).start();

  let samplesDrawn = -1;
  let lastSample = null;

  const redraw = batched(() => {
    const record = hub.record(agentId);
    if (!record) return;
    const level = pressureLevel(record.pressure);
    const band = heatBand(heatOf(record));
    el.dataset.state = record.state;
    el.dataset.band = band;
    // The agent's own count: its events so far, numbered by seq (not the frames this view got).
    el.dataset.events = String(record.seq);
    el.dataset.pressure = level;
    state.textContent = record.state;
    state.dataset.state = record.state;
    genus.textContent = record.genus && record.genus !== agentId ? record.genus : "";
    const waiting = record.pending.size;
    badge.textContent = waiting ? `${waiting} waiting` : "";
    pressure.el.dataset.level = level;
    pressure.show(record.pressure, `${VITALS.pressure.title} Now ${level}, ${record.queueDepth} waiting.`);
    flow.show(record.flow);
    temperature.show(record.temperature);
    turbulence.show(record.turbulence);
    observers.show(record.observers);
    events.show(record.seq);
    sparkLabel.textContent = `queue ${record.queueDepth}`;
    conn.dataset.status = record.connection.status;
    conn.textContent = record.connection.status;
    conn.title = record.connection.detail || "";
    const newest = record.samples[record.samples.length - 1] ?? null;
    if (record.samples.length !== samplesDrawn || newest !== lastSample) {
      drawSparkline(spark, record.samples);
      metabolism?.update(record.samples);
      samplesDrawn = record.samples.length;
      lastSample = newest;
    }
    eventLog?.render(record);
    onEvents(record.seq);
  });

  // A theme switch: the sparkline is drawn again in the new colours.
  const unwatch = watchTheme(() => {
    samplesDrawn = -1;
    redraw.schedule();
  });
  const offFrame = hub.on("frame", (id, frame, effect) => {
    if (id !== agentId) return;
    if (effect.error) field.glitch();
    if (effect.pulse) field.pulse(frame.type === "result" ? 0.7 : 1);
  });
  const offUpdate = hub.on("update", (id) => {
    if (id === agentId) redraw.schedule();
  });
  redraw.schedule();

  return {
    el,
    destroy() {
      offFrame();
      offUpdate();
      unwatch();
      redraw.cancel();
      field.stop();
      metabolism?.destroy();
      eventLog?.destroy();
    },
  };
}
