import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { FIELD_LEGEND, fieldColors, legendGradient } from "../src/densityfield.js";
import { PALETTE, heatRgb } from "../src/record.js";
import { SPARK_SERIES, SPARK_SIZE, sparkLegendTitle, sparkLines, sparkPoints } from "../src/sparkline.js";
import { DARK_THEME, THEME_VARS } from "../src/theme.js";

describe("sparkline", () => {
  const samples = [
    { flow: 1, pressure: 10, temperature: 0.1, turbulence: 0 },
    { flow: 4, pressure: 50, temperature: 0.4, turbulence: 0 },
  ];

  test("draws all four figures, each on its own scale", () => {
    const lines = sparkLines([...samples, { flow: 2, pressure: 0, temperature: 0.2, turbulence: 0.5 }]);
    assert.deepEqual(
      lines.map((line) => line.series.key),
      ["flow", "pressure", "temperature", "turbulence"],
    );
    const top = Object.fromEntries(lines.map((line) => [line.series.key, line.top]));
    assert.equal(top.flow, 4 * 1.15);
    assert.equal(top.pressure, 100);
    assert.equal(top.temperature, 1);
    assert.equal(top.turbulence, 1);
  });

  test("a calm agent's turbulence is not drawn over the floor", () => {
    assert.deepEqual(
      sparkLines(samples).map((line) => line.series.key),
      ["flow", "pressure", "temperature"],
    );
  });

  test("flow is scaled to at least 1 ev/s; missing or bad values are 0", () => {
    const lines = sparkLines([{ flow: 0.2 }, { flow: Number.NaN, pressure: "x" }, {}]);
    assert.equal(lines[0].top, 1.15);
    assert.deepEqual(lines[0].values, [0.2, 0, 0]);
    assert.deepEqual(lines[1].values, [0, 0, 0]);
  });

  test("points stay inside the box", () => {
    const points = sparkPoints([0, 50, 200], 100, 20, 100, 2);
    assert.deepEqual(points[0], [2, 18]);
    assert.deepEqual(points[2], [98, 2]);
  });

  test("the legend names every series with its colour and scale", () => {
    assert.deepEqual(
      SPARK_SERIES.map((series) => series.key),
      ["flow", "pressure", "temperature", "turbulence"],
    );
    for (const series of SPARK_SERIES) {
      assert.ok(series.color && series.label && series.hint, series.key);
      // Drawn in a theme colour; the legend shows the same one as CSS.
      assert.ok(series.theme in THEME_VARS, series.key);
      assert.ok(series.color.includes(THEME_VARS[series.theme][0]), series.key);
    }
    assert.equal(SPARK_SIZE, 60);
    const title = sparkLegendTitle();
    assert.match(title, /^The last 60 metabolism samples/);
    for (const series of SPARK_SERIES) assert.ok(title.includes(`${series.label} (${series.hint})`), series.key);
  });
});

describe("DensityField legend", () => {
  test("its bands are the field's palette, idle to intense, in the theme's colours", () => {
    assert.deepEqual(
      FIELD_LEGEND.bands.map(({ band, color }) => [band, color]),
      ["idle", "waking", "active", "intense"].map((band) => [band, PALETTE[band]]),
    );
    assert.equal(
      legendGradient(),
      `linear-gradient(90deg, var(--trm-idle, ${PALETTE.idle}), var(--trm-waking, ${PALETTE.waking}), ` +
        `var(--trm-active, ${PALETTE.active}), var(--trm-intense, ${PALETTE.intense}))`,
    );
  });

  test("the field paints with the theme: heat stops, tear and collapse colours", () => {
    const dark = fieldColors(DARK_THEME);
    assert.deepEqual(dark.stops.map(([t]) => t), [0, 0.33, 0.66, 1]);
    assert.deepEqual(dark.stops[0][1], [0x4a, 0x4a, 0x5c]);
    assert.deepEqual(dark.tear, [0xe5, 0x64, 0x6e]);
    // JupyterLab Light's warn colours (--jp-warn-color2, 1, 0) heat a white page.
    const light = fieldColors({ ...DARK_THEME, idle: "#757575", waking: "#ffb74d", active: "#f57c00", intense: "#e65100", bg: "white" });
    assert.deepEqual(light.stops[3][1], [0xe6, 0x51, 0x00]);
    assert.deepEqual(heatRgb(1, light.stops), [0xe6, 0x51, 0x00]);
    // A colour it cannot read falls back to the dark look's.
    assert.deepEqual(fieldColors({ ...DARK_THEME, idle: "nonsense" }).stops[0][1], [0x4a, 0x4a, 0x5c]);
  });

  test("it says what heat is made of and what the motion means", () => {
    for (const word of ["temperature", "flow", "pressure", "ripple", "error"]) assert.match(FIELD_LEGEND.title, new RegExp(word));
  });
});
