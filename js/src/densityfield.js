// The DensityField: an agent drawn as a cloud of density on a grid of cells.
// Density and colour follow the agent's heat (temperature, flow, activity);
// the cloud breathes, faster as the agent works; events send a ripple through
// it and errors make it glitch. Drawn with requestAnimationFrame; the loop
// pauses while the canvas is off screen or detached and stops for good on
// `stop()` (which the views call from their cleanup). Its colours are the
// theme's (theme.js): read from the canvas' CSS, again when JupyterLab
// switches theme and every couple of seconds besides.

import { PALETTE, STOPS, heatRgb, heatStops } from "./record.js";
import { mix, readTheme, toRgba, watchTheme } from "./theme.js";

const TAU = Math.PI * 2;
const RIPPLE_MS = 1100;
const GLITCH_MS = 420;
const MAX_RIPPLES = 8;
const THEME_MS = 2000;

/** What a DensityField paints with, from a theme (readTheme): heat stops, tear, collapse colours. */
export function fieldColors(theme) {
  const rgb = (key, fallback) => (toRgba(theme?.[key]) ?? fallback).slice(0, 3);
  const bands = ["idle", "waking", "active", "intense"].map((key, i) => rgb(key, STOPS[i][1]));
  const critical = rgb("critical", [0xe5, 0x64, 0x6e]);
  const bg = rgb("bg", [0x15, 0x15, 0x1c]);
  return {
    stops: heatStops(bands),
    tear: critical,
    spark: rgb("ink", [0xf5, 0xf0, 0xe8]),
    collapsed: mix(critical, bg, 0.45),
  };
}

function hash(x, y, seed) {
  let h = (x * 374761393 + y * 668265263 + seed * 1442695041) | 0;
  h = Math.imul(h ^ (h >>> 13), 1274126177);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

function smooth(t) {
  return t * t * (3 - 2 * t);
}

/** Value noise in [0, 1], smooth in x and y. */
export function valueNoise(x, y, seed = 0) {
  const xi = Math.floor(x);
  const yi = Math.floor(y);
  const xf = smooth(x - xi);
  const yf = smooth(y - yi);
  const a = hash(xi, yi, seed);
  const b = hash(xi + 1, yi, seed);
  const c = hash(xi, yi + 1, seed);
  const d = hash(xi + 1, yi + 1, seed);
  return a + (b - a) * xf + (c - a) * yf + (a - b - c + d) * xf * yf;
}

/** Breaths per second for a heat in 0..1: about 9 a minute at rest, 75 at full tilt. */
export function breathRate(heat) {
  return 0.15 + 1.1 * Math.min(1, Math.max(0, heat));
}

export class DensityField {
  /**
   * @param canvas the canvas to draw on (sized to its CSS box)
   * @param vitals () => {heat, state}: read on every animation frame
   */
  constructor(canvas, vitals, { cell = 9, seed } = {}) {
    this.canvas = canvas;
    this.vitals = vitals;
    this.cell = cell;
    this.seed = seed ?? Math.floor(Math.random() * 100000);
    this.phase = Math.random() * TAU;
    this.heat = 0;
    this.ripples = [];
    this.glitchUntil = 0;
    this.frame = null;
    this.last = 0;
    this.running = false;
    this.visible = true;
    this.observer = null;
    this.wasConnected = false;
    this.reducedMotion = Boolean(globalThis.matchMedia?.("(prefers-reduced-motion: reduce)")?.matches);
    this.colors = null;
    this.colorsAt = 0;
    this.unwatch = null;
    this._tick = (now) => this._draw(now);
  }

  start() {
    if (this.running) return this;
    this.running = true;
    this.unwatch = watchTheme(() => {
      this.colors = null;
    });
    // Off screen (scrolled away, a hidden tab, detached by notebook windowing)
    // the loop pauses; it resumes when the canvas is visible again.
    if (typeof IntersectionObserver === "function") {
      this.observer = new IntersectionObserver((entries) => {
        this.visible = entries.some((entry) => entry.isIntersecting);
        if (this.visible) this._schedule();
      });
      this.observer.observe(this.canvas);
    }
    this._schedule();
    return this;
  }

  /** Stop for good (the view is being destroyed). */
  stop() {
    this.running = false;
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
    if (this.observer) this.observer.disconnect();
    this.observer = null;
    if (this.unwatch) this.unwatch();
    this.unwatch = null;
  }

  _schedule() {
    if (this.running && this.frame === null) this.frame = requestAnimationFrame(this._tick);
  }

  /** An event went through the agent: a ripple from the core. */
  pulse(strength = 1) {
    this.ripples.push({ born: performance.now(), strength: Math.min(1, Math.max(0.2, strength)) });
    if (this.ripples.length > MAX_RIPPLES) this.ripples.shift();
  }

  /** An error: the field tears for a moment. */
  glitch() {
    this.glitchUntil = performance.now() + GLITCH_MS;
  }

  _resize() {
    const canvas = this.canvas;
    const ratio = Math.min(2, globalThis.devicePixelRatio || 1);
    const width = Math.max(1, Math.round((canvas.clientWidth || 240) * ratio));
    const height = Math.max(1, Math.round((canvas.clientHeight || 150) * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    return ratio;
  }

  _draw(now) {
    this.frame = null;
    if (!this.running) return;
    if (this.canvas.isConnected) this.wasConnected = true;
    else if (this.wasConnected) {
      // Detached: without an IntersectionObserver to wake us, stop for good.
      if (!this.observer) this.stop();
      this.last = 0;
      return;
    }
    if (!this.visible) {
      this.last = 0;
      return;
    }
    const dt = this.last ? Math.min(0.1, (now - this.last) / 1000) : 0.016;
    this.last = now;
    const vitals = this.vitals() || {};
    const target = Math.min(1, Math.max(0, Number(vitals.heat) || 0));
    this.heat += (target - this.heat) * Math.min(1, dt * 1.5); // ease, so the colour drifts
    const resting = vitals.state === "stopped" || vitals.state === "collapsed" || vitals.state === "unavailable";
    this.phase = (this.phase + dt * TAU * breathRate(this.heat) * (this.reducedMotion ? 0.4 : 1)) % TAU;

    if (this.colors === null || now - this.colorsAt > THEME_MS) {
      this.colors = fieldColors(readTheme(this.canvas));
      this.colorsAt = now;
    }
    const ratio = this._resize();
    const ctx = this.canvas.getContext("2d");
    if (ctx) this._paint(ctx, now, ratio, resting, vitals.state === "collapsed");
    this._schedule();
  }

  _paint(ctx, now, ratio, resting, collapsed) {
    const { width, height } = this.canvas;
    const size = this.cell * ratio;
    const cols = Math.max(4, Math.floor(width / size));
    const rows = Math.max(3, Math.floor(height / size));
    const offsetX = (width - cols * size) / 2;
    const offsetY = (height - rows * size) / 2;
    const heat = this.heat;
    const colors = this.colors ?? fieldColors(null);
    const breath = Math.sin(this.phase);
    const amplitude = this.reducedMotion ? 0.03 : 0.06 + 0.05 * heat;
    const radius = (0.5 + 0.32 * heat) * (1 + amplitude * breath);
    const drift = now / 1000;
    const glitching = now < this.glitchUntil;
    const glitchAge = glitching ? 1 - (this.glitchUntil - now) / GLITCH_MS : 1;
    this.ripples = this.ripples.filter((ripple) => now - ripple.born < RIPPLE_MS);

    ctx.clearRect(0, 0, width, height);
    const aspect = cols / rows;
    for (let row = 0; row < rows; row += 1) {
      let shift = 0;
      if (glitching && hash(row, Math.floor(now / 60), this.seed) > 0.72) {
        shift = Math.round((hash(row, 7, Math.floor(now / 45)) - 0.5) * 6) * size;
      }
      const y = ((row + 0.5) / rows) * 2 - 1;
      for (let col = 0; col < cols; col += 1) {
        const x = (((col + 0.5) / cols) * 2 - 1) * Math.min(1.5, aspect * 0.62);
        const distance = Math.hypot(x, y * 1.05);
        const n = valueNoise(col * 0.33 + drift * (0.15 + heat * 0.35), row * 0.33 - drift * 0.1, this.seed);
        const fine = valueNoise(col * 0.9, row * 0.9 + drift * 0.6, this.seed + 17);
        let density = Math.exp(-((distance / radius) ** 2)) * (0.45 + 0.55 * n) + (fine - 0.5) * 0.12;
        for (const ripple of this.ripples) {
          const age = (now - ripple.born) / RIPPLE_MS;
          const front = age * 1.6;
          density += ripple.strength * 0.35 * (1 - age) * Math.exp(-(((distance - front) / 0.12) ** 2));
        }
        density = Math.min(1, Math.max(0, density));
        if (density < 0.06) continue;
        const local = Math.min(1, Math.max(0, heat * 0.75 + density * 0.45 - 0.2));
        let [r, g, b] = heatRgb(resting ? 0 : local, colors.stops);
        let alpha = (resting ? 0.35 : 0.2) + 0.8 * density;
        if (collapsed) [r, g, b] = colors.collapsed;
        if (glitching && hash(col, row, Math.floor(now / 50)) > 0.8) {
          [r, g, b] = hash(col, row, 3) > 0.5 ? colors.tear : colors.spark;
          alpha = Math.max(alpha, 0.9 * (1 - glitchAge));
        }
        const inset = size * (0.5 - 0.42 * Math.sqrt(density));
        ctx.fillStyle = `rgba(${r},${g},${b},${alpha.toFixed(3)})`;
        ctx.fillRect(offsetX + col * size + inset + shift, offsetY + row * size + inset, size - 2 * inset, size - 2 * inset);
      }
    }
    if (glitching && glitchAge < 0.25) {
      const [r, g, b] = colors.tear;
      ctx.fillStyle = `rgba(${r},${g},${b},${(0.18 * (1 - glitchAge / 0.25)).toFixed(3)})`;
      ctx.fillRect(0, 0, width, height);
    }
  }
}

/** What the DensityField's legend says: the colour bands of heat, and what moves it. */
export const FIELD_LEGEND = Object.freeze({
  bands: Object.freeze(["idle", "waking", "active", "intense"].map((band) => Object.freeze({ band, color: PALETTE[band] }))),
  title:
    "DensityField: colour and density follow the agent's heat, the highest of its temperature, " +
    "its flow, its pressure and the afterglow of its latest event (idle → waking → active → intense). " +
    "It breathes faster as it heats; a ripple is an event, a red tear an error; grey when stopped, dark red when collapsed.",
});

/** The CSS gradient of the legend's colour bar, idle to intense, in the theme's colours (dark look as fallback). */
export function legendGradient() {
  return `linear-gradient(90deg, ${FIELD_LEGEND.bands.map(({ band, color }) => `var(--trm-${band}, ${color})`).join(", ")})`;
}
