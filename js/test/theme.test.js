import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { DARK_THEME, THEME_VARS, contrast, cssColor, luminance, mix, over, parseColor, readTheme, withAlpha } from "../src/theme.js";

describe("theme colours", () => {
  test("hex, rgb() and rgba() in the forms JupyterLab's themes write them", () => {
    assert.deepEqual(parseColor("#fff"), [255, 255, 255, 1]);
    assert.deepEqual(parseColor("#1976d2"), [0x19, 0x76, 0xd2, 1]);
    assert.deepEqual(parseColor("#00000080"), [0, 0, 0, 0.502]);
    assert.deepEqual(parseColor("rgba(0,0,0,.87)"), [0, 0, 0, 0.87]);
    assert.deepEqual(parseColor(" rgb(255 255 255 / 54%) "), [255, 255, 255, 0.54]);
    assert.deepEqual(parseColor("white"), [255, 255, 255, 1]);
    assert.equal(parseColor("var(--jp-x)"), null);
    assert.equal(parseColor(""), null);
    assert.equal(parseColor("#12345"), null);
  });

  test("a translucent ink over its page, luminance and contrast", () => {
    // JupyterLab Light's --jp-ui-font-color1 on white.
    const ink = over(parseColor("rgba(0,0,0,.87)"), [255, 255, 255]);
    assert.deepEqual(ink, [33, 33, 33]);
    assert.equal(luminance([0, 0, 0]), 0);
    assert.equal(luminance([255, 255, 255]), 1);
    assert.ok(contrast(ink, [255, 255, 255]) > 14);
    assert.equal(contrast([10, 10, 10], [10, 10, 10]), 1);
    // The dark look's ink on its background reads well too.
    assert.ok(contrast(parseColor(DARK_THEME.ink), parseColor(DARK_THEME.bg)) > 12);
  });

  test("alpha and mixing", () => {
    assert.equal(withAlpha("#e6a352", 0.16), "rgba(230,163,82,0.16)");
    assert.equal(withAlpha("rgba(0,0,0,.5)", 0.5), "rgba(0,0,0,0.25)");
    assert.deepEqual(mix([0, 0, 0], [200, 100, 50], 0.5), [100, 50, 25]);
  });

  test("every theme key is a --trm- variable with the dark look as its fallback", () => {
    for (const [key, [name, fallback]] of Object.entries(THEME_VARS)) {
      assert.match(name, /^--trm-/, key);
      assert.equal(DARK_THEME[key], fallback);
      assert.equal(cssColor(key), `var(${name}, ${fallback})`);
    }
  });

  test("without a page, the dark look", () => {
    const theme = readTheme(null);
    assert.equal(theme.ink, DARK_THEME.ink);
    assert.equal(typeof theme.key, "string");
  });
});
