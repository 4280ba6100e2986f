// One agent's tile: the DensityField, state, pressure, flow, observers, the
// event counter, a sparkline of metabolism samples and (optionally) the log.

import { DensityField } from "./densityfield.js";
import { batched, h } from "./dom.js";
import { formatNumber } from "./format.js";
import { LOG_SIZE, heatBand, heatOf, pressureLevel } from "./record.js";
import { drawSparkline } from "./sparkline.js";

function vital(label, cls = "") {
  const value = h("span", { class: "trm-vital-value" }, "–");
  const el = h("div", { class: `trm-vital ${cls}`.trim() }, h("span", { class: "trm-vital-label" }, label), value);
  return { el, value };
}

/**
 * @param hub the AgentHub that carries this agent
 * @param agentId the agent to show
 * @param log "full" (AgentView), "short" (grid) or "none"
 */
export function createTile(hub, agentId, { log = "full", onEvents = () => {} } = {}) {
  const name = h("span", { class: "trm-tile-name", title: agentId }, agentId);
  const genus = h("span", { class: "trm-tile-genus" });
  const badge = h("span", { class: "trm-pending-badge" });
  const state = h("span", { class: "trm-state" }, "…");
  const canvas = h("canvas", { class: "trm-field", "aria-label": `DensityField of ${agentId}` });
  const pressure = vital("pressure", "trm-pressure");
  const flow = vital("flow");
  const observers = vital("observers");
  const events = vital("events");
  const spark = h("canvas", { class: "trm-spark", "aria-hidden": "true" });
  const sparkLabel = h("span", { class: "trm-spark-label" });
  const conn = h("span", { class: "trm-conn" });
  const logEl = log === "none" ? null : h("div", { class: `trm-log${log === "short" ? " trm-log--short" : ""}`, role: "log" });
  const el = h(
    "section",
    { class: `trm-tile${log === "full" ? " trm-tile--wide" : ""}`, dataset: { agent: agentId, events: "0" } },
    h("div", { class: "trm-tile-head" }, name, genus, badge, state),
    canvas,
    h(
      "div",
      { class: "trm-tile-side" },
      h("div", { class: "trm-vitals" }, pressure.el, flow.el, observers.el, events.el),
      spark,
      h("div", { class: "trm-spark-row" }, sparkLabel, conn),
    ),
    logEl,
  );

  const field = new DensityField(canvas, () => {
    const record = hub.record(agentId);
    return record ? { heat: heatOf(record), state: record.state } : { heat: 0, state: "dormant" };
  }).start();

  let shownLog = 0;
  let samplesDrawn = -1;

  function renderLog(record) {
    if (!logEl) return;
    const stick = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 4;
    if (record.logCount < shownLog) {
      logEl.textContent = "";
      shownLog = 0;
    }
    const fresh = record.log.filter((entry) => entry.n > shownLog);
    const limit = log === "short" ? 40 : LOG_SIZE;
    for (const entry of fresh.slice(-limit)) {
      logEl.append(
        h(
          "div",
          { class: "trm-log-line", dataset: { type: entry.type } },
          entry.seq !== null ? h("span", { class: "trm-log-seq" }, `#${entry.seq}`) : null,
          entry.text,
        ),
      );
    }
    if (fresh.length) shownLog = fresh[fresh.length - 1].n;
    while (logEl.childElementCount > limit) logEl.firstElementChild.remove();
    if (stick || fresh.length === logEl.childElementCount) logEl.scrollTop = logEl.scrollHeight;
  }

  const redraw = batched(() => {
    const record = hub.record(agentId);
    if (!record) return;
    const level = pressureLevel(record.pressure);
    const band = heatBand(heatOf(record));
    el.dataset.state = record.state;
    el.dataset.band = band;
    el.dataset.events = String(record.events);
    el.dataset.pressure = level;
    state.textContent = record.state;
    state.dataset.state = record.state;
    genus.textContent = record.genus && record.genus !== agentId ? record.genus : "";
    const waiting = record.pending.size;
    badge.textContent = waiting ? `${waiting} waiting` : "";
    pressure.el.dataset.level = level;
    pressure.value.textContent = `${Math.round(record.pressure)}`;
    pressure.el.title = `pressure ${level} (healthy < 50, degraded 50-80, critical > 80)`;
    flow.value.replaceChildren(formatNumber(record.flow), h("small", {}, " /s"));
    observers.value.textContent = String(record.observers);
    events.value.textContent = String(record.events);
    sparkLabel.textContent = `temp ${formatNumber(record.temperature, 2)} · queue ${record.queueDepth}`;
    conn.dataset.status = record.connection.status;
    conn.textContent = record.connection.status;
    conn.title = record.connection.detail || "";
    if (record.samples.length !== samplesDrawn || record.samples.length >= 60) {
      drawSparkline(spark, record.samples);
      samplesDrawn = record.samples.length;
    }
    renderLog(record);
    onEvents(record.events);
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
      redraw.cancel();
      field.stop();
    },
  };
}
