// The colours the canvases draw with, read from the page's CSS: styles.css
// defines every `--trm-*` colour as a JupyterLab `--jp-*` variable with the
// dark look as its fallback, so a canvas that reads them here follows
// JupyterLab's theme (Light, Dark, High Contrast) and looks as before outside
// Lab. `watchTheme` says when JupyterLab switched theme. The colour
// arithmetic at the top is pure (no DOM) and tested under node.

/** The dark look, as `[css variable, fallback]`: what a canvas uses where nothing is set. */
export const THEME_VARS = Object.freeze({
  bg: ["--trm-bg", "#15151c"],
  card: ["--trm-card", "#1d1d26"],
  line: ["--trm-line", "#2e2e3b"],
  ink: ["--trm-ink", "#e8e6e3"],
  dim: ["--trm-dim", "#8a8aa0"],
  faint: ["--trm-faint", "#76768c"],
  idle: ["--trm-idle", "#4a4a5c"],
  waking: ["--trm-waking", "#c97b84"],
  active: ["--trm-active", "#e6a352"],
  intense: ["--trm-intense", "#f5d08a"],
  healthy: ["--trm-healthy", "#7fb59a"],
  degraded: ["--trm-degraded", "#e6a352"],
  critical: ["--trm-critical", "#e5646e"],
  info: ["--trm-info", "#7f9cc9"],
  perturb: ["--trm-perturb", "#a7b6e8"],
  pressure: ["--trm-chart-pressure", "#c97b84"],
  queue: ["--trm-chart-queue", "#7f9cc9"],
  temp: ["--trm-chart-temp", "#f5d08a"],
  font: ["--trm-font", 'system-ui, -apple-system, "Segoe UI", sans-serif'],
  mono: ["--trm-mono", 'ui-monospace, "SF Mono", Menlo, Consolas, monospace'],
});

/** The CSS colour of a theme key, for the DOM: `var(--trm-x, fallback)`. */
export function cssColor(key) {
  const [name, fallback] = THEME_VARS[key];
  return `var(${name}, ${fallback})`;
}

/** The fallback theme: the dark look. */
export const DARK_THEME = Object.freeze(Object.fromEntries(Object.entries(THEME_VARS).map(([key, [, value]]) => [key, value])));

const NAMED = { white: [255, 255, 255, 1], black: [0, 0, 0, 1], transparent: [0, 0, 0, 0] };

/**
 * `[r, g, b, a]` (0-255, alpha 0-1) for a CSS colour in hex, `rgb()`/`rgba()`
 * (comma or space syntax, numbers or percentages) or white/black/transparent;
 * null for anything else (a browser can still normalise it: `toRgba`).
 */
export function parseColor(text) {
  const value = String(text ?? "").trim().toLowerCase();
  if (!value) return null;
  if (value in NAMED) return NAMED[value].slice();
  const hex = /^#([0-9a-f]{3,8})$/.exec(value);
  if (hex) {
    let digits = hex[1];
    if (digits.length === 3 || digits.length === 4) digits = [...digits].map((d) => d + d).join("");
    if (digits.length !== 6 && digits.length !== 8) return null;
    const n = (i) => parseInt(digits.slice(i, i + 2), 16);
    return [n(0), n(2), n(4), digits.length === 8 ? Math.round((n(6) / 255) * 1000) / 1000 : 1];
  }
  const fn = /^rgba?\(([^)]*)\)$/.exec(value);
  if (!fn) return null;
  const parts = fn[1].split(/[\s,/]+/).filter(Boolean);
  if (parts.length < 3 || parts.length > 4) return null;
  const channel = (part) => (part.endsWith("%") ? (parseFloat(part) / 100) * 255 : parseFloat(part));
  const rgb = parts.slice(0, 3).map(channel);
  const alpha = parts[3] === undefined ? 1 : parts[3].endsWith("%") ? parseFloat(parts[3]) / 100 : parseFloat(parts[3]);
  if (![...rgb, alpha].every(Number.isFinite)) return null;
  return [...rgb.map((c) => Math.round(Math.min(255, Math.max(0, c)))), Math.min(1, Math.max(0, alpha))];
}

/** A colour over a background, as opaque `[r, g, b]` (a translucent ink on its page). */
export function over([r, g, b, a = 1], [br, bg, bb] = [0, 0, 0]) {
  return [r * a + br * (1 - a), g * a + bg * (1 - a), b * a + bb * (1 - a)].map(Math.round);
}

/** WCAG relative luminance of `[r, g, b]`: 0 black, 1 white. */
export function luminance([r, g, b]) {
  const linear = (c) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

/** WCAG contrast ratio of two opaque colours, 1 to 21. */
export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** `rgba(...)` of a colour with its alpha multiplied by `alpha`. */
export function withAlpha(color, alpha) {
  const rgba = typeof color === "string" ? toRgba(color) : color;
  if (!rgba) return color;
  const [r, g, b, a = 1] = rgba;
  return `rgba(${r},${g},${b},${Math.round(a * alpha * 1000) / 1000})`;
}

/** Mix two `[r, g, b]` colours: `t` 0 is `a`, 1 is `b`. */
export function mix(a, b, t) {
  return [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * t));
}

// -- the browser side ------------------------------------------------------------------

let scratch = null;

/** `[r, g, b, a]` for any CSS colour the browser knows (named, hsl(), …), else null. */
export function toRgba(text) {
  const parsed = parseColor(text);
  if (parsed || typeof document === "undefined") return parsed;
  scratch ??= document.createElement("canvas").getContext("2d");
  if (!scratch) return null;
  scratch.fillStyle = "#010203";
  scratch.fillStyle = String(text);
  const normal = scratch.fillStyle;
  return normal === "#010203" && String(text).trim() !== "#010203" ? null : parseColor(normal);
}

/**
 * The theme as `el` sees it: every key of THEME_VARS as a CSS string, read
 * from the computed `--trm-*` custom properties (themselves JupyterLab's
 * `--jp-*` ones where Lab sets them). `key` changes when any colour does.
 */
export function readTheme(el) {
  const theme = { ...DARK_THEME };
  const style = el && el.isConnected && typeof getComputedStyle === "function" ? getComputedStyle(el) : null;
  if (style) {
    for (const [key, [name]] of Object.entries(THEME_VARS)) {
      const value = style.getPropertyValue(name).trim();
      if (value) theme[key] = value;
    }
  }
  theme.key = Object.keys(THEME_VARS).map((key) => theme[key]).join("|");
  return theme;
}

const watchers = new Set();
let observer = null;

function notify() {
  for (const fn of [...watchers]) {
    try {
      fn();
    } catch (error) {
      console.error("terrarium: a theme listener failed", error);
    }
  }
}

/**
 * Call `fn` when JupyterLab switches theme (it flips `data-jp-theme-light` and
 * `data-jp-theme-name` on the body once the theme's stylesheet is in).
 * Returns the function that stops it. One observer serves every view.
 */
export function watchTheme(fn) {
  watchers.add(fn);
  if (observer === null && typeof MutationObserver === "function" && typeof document !== "undefined" && document.body) {
    observer = new MutationObserver(notify);
    observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
  }
  return () => {
    watchers.delete(fn);
    if (watchers.size === 0 && observer !== null) {
      observer.disconnect();
      observer = null;
    }
  };
}
