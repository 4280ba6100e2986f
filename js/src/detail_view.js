// The grid's detail: the selected agent's metabolism chart (five minutes of
// flow, pressure and queue depth) and its full event log, with the log's
// filter, search and pause. It follows the selection; on a wide page it sits
// beside the tiles and its log takes the height that is left.

import { createChart } from "./chart.js";
import { batched, h } from "./dom.js";
import { createEventLog } from "./event_log.js";

export function createDetail(hub) {
  const name = h("code", { class: "trm-detail-name" });
  const state = h("span", { class: "trm-state" });
  const empty = h("div", { class: "trm-empty" }, "Click a tile to see its agent here.");
  const body = h("div", { class: "trm-detail-body", hidden: true });
  const el = h(
    "section",
    { class: "trm-detail", "aria-label": "the selected agent", dataset: { agent: "" } },
    h("div", { class: "trm-detail-head" }, h("span", { class: "trm-detail-title" }, "Selected"), name, state),
    empty,
    body,
  );
  let current = null;
  let chart = null;
  let log = null;
  let lastSample = null;

  const redraw = batched(() => {
    const record = current === null ? null : hub.record(current);
    if (!record) return;
    state.textContent = record.state;
    state.dataset.state = record.state;
    const newest = record.samples[record.samples.length - 1] ?? null;
    if (newest !== lastSample) {
      chart.update(record.samples);
      lastSample = newest;
    }
    log.render(record);
  });

  function teardown() {
    chart?.destroy();
    log?.destroy();
    chart = null;
    log = null;
    body.replaceChildren();
  }

  function show(id) {
    if (id === current) return;
    teardown();
    current = id ?? null;
    lastSample = null;
    el.dataset.agent = current ?? "";
    name.textContent = current ?? "";
    state.textContent = "";
    empty.hidden = current !== null;
    body.hidden = current === null;
    if (current === null) return;
    chart = createChart({ height: 190, label: `flow, pressure and queue depth of ${current}` });
    log = createEventLog({ variant: "full", label: `events of ${current}` });
    body.append(chart.el, log.el);
    redraw.schedule();
  }

  const off = hub.on("update", (id) => {
    if (id === current) redraw.schedule();
  });

  return {
    el,
    show,
    destroy() {
      off();
      redraw.cancel();
      teardown();
    },
  };
}
