import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { BREAK_S, CHART_SERIES, chartColumns, clockTime, formatValue, spanText, tooltipAt } from "../src/chart_data.js";
import { SAMPLE_WINDOW_S, addSample, applyFrame, createRecord } from "../src/record.js";
import { THEME_VARS } from "../src/theme.js";

const sample = (t, flow = 1, pressure = 10, queueDepth = 0) => ({ t, flow, pressure, queueDepth, temperature: 0, turbulence: 0 });

describe("metabolism history", () => {
  test("a record keeps five minutes of samples by the server's clock, with queue depth", () => {
    const record = createRecord("a");
    for (let i = 0; i <= 400; i += 1) {
      applyFrame(record, { seq: i + 1, ts: 1000 + i, type: "metabolism", data: { flow: 2, pressure: 30, queue_depth: i % 5 } });
    }
    assert.equal(SAMPLE_WINDOW_S, 300);
    assert.equal(record.samples.length, 301);
    assert.equal(record.samples[0].t, 1100);
    assert.equal(record.samples.at(-1).t, 1400);
    assert.equal(record.samples.at(-1).queueDepth, 0);
    assert.equal(record.samples.at(-2).queueDepth, 4);
  });

  test("a replayed sample takes its place in time, never one twice", () => {
    const record = createRecord("a");
    for (const t of [10, 12, 13]) addSample(record, sample(t));
    addSample(record, sample(11));
    addSample(record, sample(12, 9));
    assert.deepEqual(record.samples.map((s) => s.t), [10, 11, 12, 13]);
    assert.equal(record.samples[2].flow, 9);
  });
});

describe("chart columns", () => {
  test("times, then one column per series, in CHART_SERIES order", () => {
    const columns = chartColumns([sample(1, 2, 30, 1), sample(2, 3, 40, 2)]);
    assert.deepEqual(columns, [[1, 2], [2, 3], [30, 40], [1, 2]]);
    assert.deepEqual(CHART_SERIES.map((s) => s.key), ["flow", "pressure", "queueDepth"]);
    for (const series of CHART_SERIES) assert.ok(series.color in THEME_VARS, series.key);
  });

  test("a silence breaks the lines instead of bridging it", () => {
    const columns = chartColumns([sample(100), sample(101), sample(102), sample(102 + BREAK_S + 20)]);
    assert.equal(columns[0].length, 5);
    assert.deepEqual(columns[1], [1, 1, 1, null, 1]);
    assert.ok(columns[0][3] > 102 && columns[0][3] < 102 + BREAK_S + 20);
  });

  test("missing or negative values are no point, or zero", () => {
    const columns = chartColumns([{ t: 1, flow: -2, pressure: Number.NaN }, { t: "x" }]);
    assert.deepEqual(columns, [[1], [0], [null], [null]]);
  });

  test("the tooltip: time and every series with its unit", () => {
    const t = new Date(2025, 0, 1, 14, 3, 7).getTime() / 1000;
    const columns = chartColumns([sample(t, 2.5, 41.6, 3)]);
    assert.deepEqual(tooltipAt(columns, 0), {
      time: "14:03:07",
      rows: [
        { key: "flow", label: "flow", text: "2.50 ev/s" },
        { key: "pressure", label: "pressure", text: "42 %" },
        { key: "queueDepth", label: "queue", text: "3 waiting" },
      ],
    });
    assert.equal(tooltipAt(columns, 5), null);
    assert.equal(tooltipAt(columns, null), null);
    assert.equal(clockTime(t), "14:03:07");
    assert.equal(formatValue(CHART_SERIES[0], 12.34), "12.3 ev/s");
  });

  test("how much history it holds", () => {
    assert.equal(spanText(chartColumns([])), "waiting for metabolism samples");
    assert.equal(spanText(chartColumns([sample(0), sample(45)])), "the last 45 s");
    const fiveMinutes = Array.from({ length: 301 }, (_, i) => sample(i));
    assert.equal(spanText(chartColumns(fiveMinutes)), "the last 5 min");
    assert.equal(spanText(chartColumns(fiveMinutes.slice(0, 251))), "the last 4 min 10 s");
  });
});
