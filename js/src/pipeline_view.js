// A pipeline drawn live: each stage a DensityField node fed by its own
// observe stream (through whatever `source` carries the agents: the
// dashboard's hub, or the widget's stage hubs), laid out left to right in
// topological layers; each edge a path on a canvas whose thickness and
// particles follow its rate, marked when it is congested (fuller than 80 %,
// its upstream waiting for room, or dropping), with its figures on a chip.
// The figures come from `update(PIPELINE)`, which a poller (`pollPipelines`,
// here too) calls about every second; a stage's `drop` events mark its edges
// at once. Colours are the view's --trm-pl-* variables (JupyterLab's theme
// variables, with fallbacks), read from its computed style for the canvas.

import css from "./pipeline.css";
import { DensityField } from "./densityfield.js";
import { batched, h } from "./dom.js";
import { formatVital } from "./format.js";
import {
  assessEdge,
  edgeKey,
  edgeTitle,
  edgeWidth,
  formatRate,
  graphOf,
  layoutPipeline,
  noteDrops,
  particleSpacing,
  particleSpeed,
  pointAlong,
  samplePath,
} from "./pipeline_graph.js";
import { heatOf } from "./record.js";
import { apiFetch } from "./rest.js";
import { Status } from "./status.js";
import { apiUrl } from "./urls.js";

/** How often the figures are asked for, ms. */
export const POLL_MS = 1000;
/** The status of a view whose pipeline the server does not know. */
export const UNKNOWN_PIPELINE = "unknown pipeline";

const COLORS = Object.freeze({
  edge: ["--trm-pl-edge", "#6a6a80"],
  flow: ["--trm-pl-flow", "#e6a352"],
  busy: ["--trm-pl-busy", "#d9a548"],
  congested: ["--trm-pl-congested", "#e5646e"],
  faint: ["--trm-pl-faint", "#5d5d72"],
});

/** Put the pipeline stylesheet into the document once. */
export function ensurePipelineStyles(doc = document) {
  if (!doc || doc.querySelector("style[data-terrarium-pipeline-styles]")) return;
  const style = doc.createElement("style");
  style.dataset.terrariumPipelineStyles = "";
  style.textContent = css;
  doc.head.append(style);
}

/**
 * What a REST answer about pipelines means: `{status, detail, body}`; `body`
 * is the PIPELINE (or the listing) when it is one.
 */
export function readPipelineReply(reply, pipelineId = null) {
  if (reply.status === 0) return { status: Status.RECONNECTING, detail: "the server is not reachable", body: null };
  if (reply.status === 401 || reply.status === 403) {
    return { status: Status.ACCESS_DENIED, detail: reply.message || "observing needs a Jupyter login", body: null };
  }
  if (reply.status === 404) {
    if (reply.body?.error === "unknown_pipeline") {
      return { status: UNKNOWN_PIPELINE, detail: `no pipeline named ${JSON.stringify(pipelineId)} is served here`, body: null };
    }
    return { status: Status.EXTENSION_MISSING, detail: "the Terrarium server extension (with pipelines) is not reachable", body: null };
  }
  const body = reply.body;
  const valid = pipelineId === null ? Array.isArray(body?.pipelines) : Array.isArray(body?.stages) && Array.isArray(body?.edges);
  if (!reply.ok || !valid) return { status: Status.RECONNECTING, detail: reply.message || `HTTP ${reply.status}`, body: null };
  return { status: Status.LIVE, detail: "", body };
}

/**
 * Ask `api/pipelines/{id}` (or, without an id, `api/pipelines`) every
 * `intervalMs`, one request at a time, not while the page is hidden.
 * `onReply({status, detail, body})` hears each answer. Returns `{stop, refresh}`.
 */
export function pollPipelines({ baseUrl, pipelineId = null, intervalMs = POLL_MS, onReply, env = {} }) {
  const url = apiUrl(baseUrl, pipelineId === null ? ["pipelines"] : ["pipelines", pipelineId]);
  const later = env.setTimeout ?? globalThis.setTimeout;
  const cancel = env.clearTimeout ?? globalThis.clearTimeout;
  let timer = null;
  let stopped = false;
  let inFlight = false;
  async function poll() {
    timer = null;
    if (stopped || inFlight) return;
    const doc = env.document ?? globalThis.document;
    if (!doc || !doc.hidden) {
      inFlight = true;
      try {
        const reply = await apiFetch(url, { env });
        if (!stopped) onReply(readPipelineReply(reply, pipelineId));
      } finally {
        inFlight = false;
      }
    }
    if (!stopped && timer === null) timer = later(poll, intervalMs);
  }
  poll();
  return {
    stop() {
      stopped = true;
      if (timer !== null) cancel(timer);
      timer = null;
    },
    refresh() {
      if (timer !== null) cancel(timer);
      poll();
    },
  };
}

function bannerText(status, detail, pipelineId) {
  switch (status) {
    case Status.LIVE:
      return null;
    case Status.CONNECTING:
      return "Connecting…";
    case Status.RECONNECTING:
      return `Reconnecting${detail ? ` (${detail})` : "…"}; the figures shown may be stale.`;
    case UNKNOWN_PIPELINE:
      return `No pipeline named ${JSON.stringify(pipelineId)} is served here. Waiting for it to appear…`;
    case Status.ACCESS_DENIED:
      return `Access denied${detail ? `: ${detail}` : ""}. Log in to this Jupyter server.`;
    case Status.EXTENSION_MISSING:
      return detail || "The Terrarium server extension is not reachable from this page.";
    default:
      return detail || status;
  }
}

function readColors(el) {
  let style = null;
  try {
    style = globalThis.getComputedStyle ? globalThis.getComputedStyle(el) : null;
  } catch {
    style = null;
  }
  const colors = {};
  for (const [name, [variable, fallback]] of Object.entries(COLORS)) {
    const value = style ? style.getPropertyValue(variable).trim() : "";
    colors[name] = value || fallback;
  }
  return colors;
}

function createNode(source, stage, select) {
  const id = stage.id;
  const name = h("span", { class: "trm-pl-node-name", title: id }, id);
  const state = h("span", { class: "trm-pl-node-state" }, stage.state ?? "");
  const canvas = h("canvas", { class: "trm-pl-field", "aria-hidden": "true" });
  const genus = h("span", { class: "trm-pl-node-genus" });
  const flow = h("span", { class: "trm-pl-node-flow" });
  const pending = h("span", { class: "trm-pl-pending" });
  const el = h(
    "div",
    {
      class: "trm-pl-node",
      role: "button",
      tabindex: "0",
      dataset: { stage: id, state: stage.state ?? "" },
      "aria-label": `stage ${id}: aim the Beam at it`,
      title: `${id}: click to aim the Beam at this stage`,
      onclick: () => select(id),
      onkeydown: (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          select(id);
        }
      },
    },
    h("div", { class: "trm-pl-node-head" }, name, state),
    canvas,
    h("div", { class: "trm-pl-node-foot" }, genus, flow, pending),
  );
  let described = stage;
  const field = new DensityField(
    canvas,
    () => {
      const record = source.record(id);
      return record ? { heat: heatOf(record), state: currentState() } : { heat: 0, state: currentState() };
    },
    { cell: 6 },
  ).start();

  function currentState() {
    const record = source.record(id);
    // The stream knows best once it has said hello; the listing until then.
    if (record && record.connection?.status === Status.LIVE) return record.state;
    return described.state ?? record?.state ?? "dormant";
  }

  return {
    el,
    field,
    describe(next) {
      described = next;
    },
    render() {
      const record = source.record(id);
      const now = currentState();
      el.dataset.state = now;
      state.textContent = now;
      state.dataset.state = now;
      const kind = described.genus ?? record?.genus ?? null;
      genus.textContent = kind && kind !== id ? kind : "";
      if (record) {
        const { text, unit } = formatVital("flow", record.flow);
        flow.textContent = `${genus.textContent ? "· " : ""}${text} ${unit}`;
        const waiting = record.pending?.size ?? 0;
        pending.textContent = waiting ? `· ${waiting} waiting` : "";
      }
    },
    destroy() {
      field.stop();
    },
  };
}

function createEdgeChip(from, to) {
  const rate = h("span", { class: "trm-pl-edge-rate" });
  const queue = h("span", { class: "trm-pl-edge-queue" });
  const drops = h("span", { class: "trm-pl-edge-drops" });
  const warn = h("span", { class: "trm-pl-edge-warn", "aria-hidden": "true" });
  const el = h("div", { class: "trm-pl-edge", role: "img", dataset: { from, to, level: "idle" } }, h("span", {}, warn, rate), queue, drops);
  return {
    el,
    show(edge, assessment) {
      el.dataset.level = assessment.level;
      el.dataset.rate = String(edge.rate ?? 0);
      el.dataset.depth = String(edge.depth ?? 0);
      el.dataset.capacity = String(edge.capacity ?? 0);
      el.dataset.drops = String(Math.max(edge.drops ?? 0, assessment.memory.drops ?? 0));
      el.dataset.policy = String(edge.policy ?? "");
      el.toggleAttribute("data-congested", assessment.congested);
      warn.textContent = assessment.congested ? "⚠" : "";
      rate.textContent = formatRate(edge.rate);
      queue.textContent = `${edge.depth ?? 0}/${edge.capacity ?? 0}`;
      const dropped = Number(el.dataset.drops);
      drops.textContent = dropped ? `${dropped} dropped` : "";
      const title = edgeTitle(edge, assessment);
      el.title = title;
      el.setAttribute("aria-label", title.replace(/\n/g, "; "));
    },
  };
}

/**
 * @param source what carries the stages' records: `record(id)` and
 *   `on("frame" | "update", fn)` returning the function that stops listening (an AgentHub)
 * @param pipelineId the pipeline shown (its `drop` events are picked out by it)
 * @param onSelect called with a stage id when a person picks a stage
 * @returns `{el, update(PIPELINE), setStatus(status, detail), setSelected(id), destroy()}`
 */
export function createPipelineView(source, { pipelineId, onSelect = null, selected = null, title = true } = {}) {
  const doc = globalThis.document;
  ensurePipelineStyles(doc);
  const heading = h("h3", { class: "trm-pl-title" }, pipelineId ?? "");
  const summary = h("span", { class: "trm-pl-summary" });
  const alert = h("span", { class: "trm-pl-alert", role: "status" });
  const banner = h("div", { class: "trm-pl-banner", role: "status", hidden: true });
  const canvas = h("canvas", { class: "trm-pl-edges", "aria-hidden": "true" });
  const stage = h("div", { class: "trm-pl-stage" }, canvas);
  const scroll = h("div", { class: "trm-pl-scroll" }, stage);
  const legend = h(
    "div",
    { class: "trm-pl-legend" },
    h("span", {}, h("span", { class: "trm-pl-swatch" }), "edge: thickness and motion follow items/s · chip: rate, queued/capacity, dropped"),
    h("span", {}, h("span", { class: "trm-pl-swatch", dataset: { kind: "congested" } }), "⚠ congested: queue over 80 % full, upstream waiting, or dropping"),
    onSelect ? h("span", {}, "click a stage to aim the Beam at it") : null,
  );
  const el = h(
    "section",
    {
      class: "trm-pl",
      dataset: { pipeline: pipelineId ?? "", stages: "0", edges: "0", congested: "0", status: Status.CONNECTING },
      "aria-label": `pipeline ${pipelineId ?? ""}`,
    },
    title ? h("div", { class: "trm-pl-head" }, heading, summary, alert) : h("div", { class: "trm-pl-head" }, summary, alert),
    banner,
    scroll,
    legend,
  );

  const nodes = new Map();
  const chips = new Map();
  const memories = new Map();
  const assessments = new Map();
  const edgesByKey = new Map();
  const paths = new Map();
  const offsets = new Map();
  let description = null;
  let shape = "";
  let laid = null;
  let laidWidth = 0;
  let current = selected;
  let alive = true;

  function select(id) {
    setSelected(id);
    if (onSelect) onSelect(id);
  }

  function setSelected(id) {
    current = id;
    for (const [stageId, node] of nodes) node.el.toggleAttribute("data-selected", stageId === id);
  }

  function rebuild(pipeline) {
    const { ids } = graphOf(pipeline);
    const stages = new Map((pipeline.stages ?? []).map((s) => [s?.id, s]));
    for (const [id, node] of nodes) {
      if (!ids.includes(id)) {
        node.destroy();
        node.el.remove();
        nodes.delete(id);
      }
    }
    for (const id of ids) {
      if (!nodes.has(id)) {
        const node = createNode(source, stages.get(id) ?? { id, state: "dormant", genus: null }, select);
        nodes.set(id, node);
        stage.append(node.el);
      }
    }
    const keys = new Set((pipeline.edges ?? []).map((e) => edgeKey(e.from, e.to)));
    for (const [key, chip] of chips) {
      if (!keys.has(key)) {
        chip.el.remove();
        chips.delete(key);
        memories.delete(key);
        assessments.delete(key);
      }
    }
    for (const edge of pipeline.edges ?? []) {
      const key = edgeKey(edge.from, edge.to);
      if (!chips.has(key) && nodes.has(edge.from) && nodes.has(edge.to)) {
        const chip = createEdgeChip(edge.from, edge.to);
        chips.set(key, chip);
        stage.append(chip.el);
      }
    }
    setSelected(current);
  }

  function relayout() {
    if (!description) return;
    const width = scroll.clientWidth || 800;
    laid = layoutPipeline(description, width);
    laidWidth = width;
    stage.style.width = `${laid.width}px`;
    stage.style.height = `${laid.height}px`;
    for (const box of laid.nodes) {
      const node = nodes.get(box.id);
      if (!node) continue;
      Object.assign(node.el.style, { left: `${box.x}px`, top: `${box.y}px`, width: `${box.w}px`, height: `${box.h}px` });
    }
    paths.clear();
    for (const edge of laid.edges) {
      const sampled = samplePath(edge.segments);
      paths.set(edge.key, sampled);
      const chip = chips.get(edge.key);
      if (chip) {
        const middle = pointAlong(sampled, sampled.length / 2);
        chip.el.style.left = `${middle.x}px`;
        chip.el.style.top = `${middle.y}px`;
      }
    }
    const ratio = Math.min(2, globalThis.devicePixelRatio || 1);
    canvas.width = Math.max(1, Math.round(laid.width * ratio));
    canvas.height = Math.max(1, Math.round(laid.height * ratio));
    canvas.style.width = `${laid.width}px`;
    canvas.style.height = `${laid.height}px`;
  }

  function assess(key, now = Date.now()) {
    const edge = edgesByKey.get(key);
    if (!edge) return;
    const assessment = assessEdge(edge, memories.get(key) ?? null, now);
    memories.set(key, assessment.memory);
    assessments.set(key, assessment);
    chips.get(key)?.show(edge, assessment);
  }

  function showTotals() {
    const congested = [...assessments.values()].filter((a) => a.congested).length;
    el.dataset.congested = String(congested);
    alert.textContent = congested ? `⚠ ${congested} congested edge${congested === 1 ? "" : "s"}` : "";
    const stages = nodes.size;
    const edges = chips.size;
    el.dataset.stages = String(stages);
    el.dataset.edges = String(edges);
    summary.textContent = `${stages} stage${stages === 1 ? "" : "s"} · ${edges} edge${edges === 1 ? "" : "s"}`;
  }

  /** New figures (a PIPELINE from the server). */
  function update(pipeline) {
    if (!alive || !pipeline || !Array.isArray(pipeline.stages)) return;
    description = pipeline;
    const { ids, edges } = graphOf(pipeline);
    const nextShape = `${ids.join("\u0001")}\u0002${edges.map((e) => edgeKey(e.from, e.to)).join("\u0001")}`;
    if (nextShape !== shape) {
      shape = nextShape;
      rebuild(pipeline);
      relayout();
    }
    edgesByKey.clear();
    for (const edge of pipeline.edges ?? []) edgesByKey.set(edgeKey(edge.from, edge.to), edge);
    const now = Date.now();
    for (const key of chips.keys()) assess(key, now);
    for (const s of pipeline.stages) {
      const node = nodes.get(s?.id);
      if (node) {
        node.describe(s);
        node.render();
      }
    }
    showTotals();
    loop.wake();
  }

  function setStatus(status, detail = "") {
    el.dataset.status = status;
    const text = bannerText(status, detail, pipelineId);
    banner.textContent = text ?? "";
    banner.hidden = text === null;
    banner.toggleAttribute("data-bad", [UNKNOWN_PIPELINE, Status.ACCESS_DENIED, Status.EXTENSION_MISSING].includes(status));
  }
  setStatus(Status.CONNECTING);

  // -- the stages' streams -------------------------------------------------------------

  const redraw = new Set();
  const renderNodes = batched(() => {
    for (const id of redraw) nodes.get(id)?.render();
    redraw.clear();
  });
  const offs = [
    source.on("frame", (id, frame, effect) => {
      const node = nodes.get(id);
      if (!node) return;
      if (effect?.error) node.field.glitch();
      if (effect?.pulse) node.field.pulse(frame.type === "result" ? 0.7 : 1);
      if (frame.type === "drop" && frame.data?.pipeline === pipelineId) {
        const now = Date.now();
        for (const key of noteDrops(memories, id, frame.data, now)) assess(key, now);
        showTotals();
      }
    }),
    source.on("update", (id) => {
      if (!nodes.has(id)) return;
      redraw.add(id);
      renderNodes.schedule();
    }),
  ];

  // -- the edges, animated ---------------------------------------------------------------

  const loop = (() => {
    let frame = null;
    let last = 0;
    let running = true;
    let visible = true;
    let wasConnected = false;
    let colors = null;
    let colorsAt = -Infinity;
    const reduced = Boolean(globalThis.matchMedia?.("(prefers-reduced-motion: reduce)")?.matches);
    let observer = null;
    if (typeof IntersectionObserver === "function") {
      observer = new IntersectionObserver((entries) => {
        visible = entries.some((entry) => entry.isIntersecting);
        if (visible) schedule();
      });
      observer.observe(stage);
    }
    function schedule() {
      if (running && frame === null) frame = requestAnimationFrame(tick);
    }
    function tick(now) {
      frame = null;
      if (!running) return;
      if (stage.isConnected) wasConnected = true;
      else if (wasConnected) {
        if (!observer) stop();
        last = 0;
        return;
      }
      if (!visible) {
        last = 0;
        return;
      }
      const dt = last ? Math.min(0.1, (now - last) / 1000) : 0.016;
      last = now;
      if (now - colorsAt > 1000) {
        colors = readColors(el); // follows a theme switch within a second
        colorsAt = now;
      }
      draw(dt, now);
      schedule();
    }
    function draw(dt, now) {
      const ctx = canvas.getContext("2d");
      if (!ctx || !laid) return;
      const ratio = canvas.width / Math.max(1, laid.width);
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, laid.width, laid.height);
      const throb = 0.5 + 0.5 * Math.sin(now / 260);
      for (const edge of laid.edges) {
        const sampled = paths.get(edge.key);
        const figures = edgesByKey.get(edge.key);
        if (!sampled || !figures) continue;
        const assessment = assessments.get(edge.key);
        const level = assessment?.level ?? "idle";
        const rate = Number(figures.rate) || 0;
        const width = edgeWidth(rate);
        const tone = level === "congested" ? colors.congested : level === "busy" ? colors.busy : level === "closed" ? colors.faint : colors.edge;
        const trace = () => {
          ctx.beginPath();
          sampled.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
        };
        ctx.lineCap = "round";
        ctx.lineJoin = "round";
        if (level === "congested") {
          // A warning halo that throbs, under the edge itself.
          trace();
          ctx.globalAlpha = 0.12 + 0.22 * throb;
          ctx.strokeStyle = colors.congested;
          ctx.lineWidth = width + 8;
          ctx.setLineDash([]);
          ctx.stroke();
        }
        trace();
        ctx.globalAlpha = level === "closed" ? 0.5 : 0.85;
        ctx.strokeStyle = tone;
        ctx.lineWidth = width;
        ctx.setLineDash(level === "closed" ? [5, 5] : rate === 0 ? [2, 5] : []);
        ctx.stroke();
        ctx.setLineDash([]);
        // The arrow at the downstream end.
        const tip = pointAlong(sampled, sampled.length);
        const size = 5 + width * 0.6;
        ctx.globalAlpha = 0.9;
        ctx.fillStyle = tone;
        ctx.beginPath();
        ctx.moveTo(tip.x, tip.y);
        ctx.lineTo(tip.x - size * Math.cos(tip.angle - 0.45), tip.y - size * Math.sin(tip.angle - 0.45));
        ctx.lineTo(tip.x - size * Math.cos(tip.angle + 0.45), tip.y - size * Math.sin(tip.angle + 0.45));
        ctx.closePath();
        ctx.fill();
        // Particles: items on their way, as fast and as dense as the rate.
        const speed = particleSpeed(rate) * (reduced ? 0.3 : 1);
        if (speed > 0 && level !== "closed") {
          const spacing = particleSpacing(rate);
          const offset = ((offsets.get(edge.key) ?? 0) + speed * dt) % spacing;
          offsets.set(edge.key, offset);
          const radius = Math.max(1.8, width * 0.42);
          ctx.fillStyle = level === "congested" ? colors.congested : colors.flow;
          for (let d = offset; d < sampled.length - size; d += spacing) {
            const p = pointAlong(sampled, d);
            const edgeFade = Math.min(1, d / 14, (sampled.length - d) / 14);
            ctx.globalAlpha = 0.95 * Math.max(0, edgeFade);
            ctx.beginPath();
            ctx.arc(p.x, p.y, radius, 0, Math.PI * 2);
            ctx.fill();
          }
        }
      }
      ctx.globalAlpha = 1;
    }
    function stop() {
      running = false;
      if (frame !== null) cancelAnimationFrame(frame);
      frame = null;
      if (observer) observer.disconnect();
      observer = null;
    }
    return { wake: schedule, stop };
  })();

  const resize =
    typeof ResizeObserver === "function"
      ? new ResizeObserver(() => {
          if (description && scroll.clientWidth && Math.abs(scroll.clientWidth - laidWidth) > 1) relayout();
        })
      : null;
  if (resize) resize.observe(scroll);

  return {
    el,
    update,
    setStatus,
    setSelected,
    /** The stage ids shown, in the order the server gave them. */
    stages() {
      return description ? graphOf(description).ids : [];
    },
    destroy() {
      alive = false;
      for (const off of offs) off();
      renderNodes.cancel();
      loop.stop();
      if (resize) resize.disconnect();
      for (const node of nodes.values()) node.destroy();
      nodes.clear();
    },
  };
}
