// A pipeline's graph as geometry: stages in topological layers, left to right
// (longest path from the heads, so fan-out and fan-in line up), ordered within
// each layer to cross few edges, then placed in a box of a given width; edges
// as smooth paths between ports, sampled for the particles that run along
// them. Also what an edge's figures mean to the eye: its thickness and speed
// (rate), and whether it is congested. Pure: no DOM, no canvas.

/** An edge counts as congested above this fill (depth / capacity). */
export const CONGESTED_FILL = 0.8;
/** How long waits or drops that grew keep an edge marked as congested, in ms. */
export const HOLD_MS = 5000;

/** The key of an edge, "from→to". */
export function edgeKey(from, to) {
  return `${from}\u2192${to}`;
}

const num = (value, fallback = 0) => (typeof value === "number" && Number.isFinite(value) ? value : fallback);

/**
 * The stage ids and the edges of a PIPELINE, cleaned: stages in their given
 * order (plus any an edge names that the list lacks), edges between known
 * stages, each once, no self-loops.
 */
export function graphOf(pipeline) {
  const ids = [];
  const seen = new Set();
  const add = (id) => {
    if (typeof id !== "string" || seen.has(id)) return;
    seen.add(id);
    ids.push(id);
  };
  for (const stage of Array.isArray(pipeline?.stages) ? pipeline.stages : []) add(stage?.id);
  const edges = [];
  const keys = new Set();
  for (const edge of Array.isArray(pipeline?.edges) ? pipeline.edges : []) {
    if (!edge || typeof edge.from !== "string" || typeof edge.to !== "string" || edge.from === edge.to) continue;
    const key = edgeKey(edge.from, edge.to);
    if (keys.has(key)) continue;
    keys.add(key);
    add(edge.from);
    add(edge.to);
    edges.push({ from: edge.from, to: edge.to });
  }
  return { ids, edges };
}

/**
 * Each stage's layer: 0 for the heads, else one more than its furthest
 * upstream (the longest path), so every edge points right. A cycle (which a
 * pipeline refuses, but a view should survive) is broken where it is met.
 * Returns a Map of id to layer.
 */
export function assignLayers(ids, edges) {
  const ups = new Map(ids.map((id) => [id, []]));
  const downs = new Map(ids.map((id) => [id, []]));
  for (const { from, to } of edges) {
    if (!ups.has(from) || !ups.has(to)) continue;
    ups.get(to).push(from);
    downs.get(from).push(to);
  }
  const indegree = new Map(ids.map((id) => [id, ups.get(id).length]));
  const layer = new Map();
  const placed = new Set();
  const queue = ids.filter((id) => indegree.get(id) === 0);
  const settle = (id) => {
    placed.add(id);
    const known = ups.get(id).filter((up) => layer.has(up)).map((up) => layer.get(up) + 1);
    layer.set(id, Math.max(0, ...known));
    for (const down of downs.get(id)) {
      indegree.set(down, indegree.get(down) - 1);
      if (indegree.get(down) === 0 && !placed.has(down)) queue.push(down);
    }
  };
  for (;;) {
    while (queue.length) {
      const id = queue.shift();
      if (!placed.has(id)) settle(id);
    }
    const stuck = ids.find((id) => !placed.has(id));
    if (stuck === undefined) break;
    settle(stuck); // on a cycle: place the first stuck stage and go on from it
  }
  return layer;
}

function barycenter(id, neighbours, position) {
  const known = neighbours.filter((other) => position.has(other)).map((other) => position.get(other));
  if (!known.length) return null;
  return known.reduce((sum, value) => sum + value, 0) / known.length;
}

/**
 * Stages (and the waypoints of edges that skip layers) in layers, each layer
 * ordered to cross few edges: a few barycentre sweeps, down then up, from the
 * stages' given order.
 *
 * Returns `{layers: [[node]], links: [{from, to, path: [nodeId]}]}`, where a node
 * is `{id, stage: bool}` and `path` runs from the edge's stage through its
 * waypoints to the next stage.
 */
export function orderLayers(ids, edges, layerOf = assignLayers(ids, edges)) {
  const depth = ids.length ? Math.max(...ids.map((id) => layerOf.get(id))) + 1 : 0;
  const layers = Array.from({ length: depth }, () => []);
  const nodes = new Map();
  const place = (id, stage, layer) => {
    const node = { id, stage, layer };
    nodes.set(id, node);
    layers[layer].push(node);
  };
  for (const id of ids) place(id, true, layerOf.get(id));
  const links = [];
  const ups = new Map();
  const downs = new Map();
  const connect = (a, b) => {
    if (!downs.has(a)) downs.set(a, []);
    if (!ups.has(b)) ups.set(b, []);
    downs.get(a).push(b);
    ups.get(b).push(a);
  };
  for (const { from, to } of edges) {
    const a = layerOf.get(from);
    const b = layerOf.get(to);
    const path = [from];
    if (b > a + 1) {
      for (let layer = a + 1; layer < b; layer += 1) {
        const id = `\u0000${edgeKey(from, to)}\u0000${layer}`;
        place(id, false, layer);
        path.push(id);
      }
    }
    path.push(to);
    // An edge drawn backwards (a broken cycle) has no waypoints; it is still drawn.
    for (let i = 1; i < path.length; i += 1) connect(path[i - 1], path[i]);
    links.push({ from, to, path });
  }
  const position = new Map();
  const index = (layer) => layer.forEach((node, i) => position.set(node.id, i));
  layers.forEach(index);
  const sweep = (range, neighbours) => {
    for (const l of range) {
      const layer = layers[l];
      const keyed = layer.map((node, i) => {
        const center = barycenter(node.id, neighbours.get(node.id) ?? [], position);
        return { node, key: center === null ? i : center, i };
      });
      keyed.sort((x, y) => x.key - y.key || x.i - y.i);
      layers[l] = keyed.map((entry) => entry.node);
      index(layers[l]);
    }
  };
  const down = [...layers.keys()].slice(1);
  const up = [...layers.keys()].reverse().slice(1);
  for (let round = 0; round < 4; round += 1) {
    sweep(down, ups);
    sweep(up, downs);
  }
  sweep(down, ups);
  return { layers, links, nodes };
}

/** What a layout is made of, in CSS pixels. */
export const LAYOUT = Object.freeze({
  nodeWidth: Object.freeze({ min: 118, max: 190 }),
  nodeHeight: 124,
  gapX: Object.freeze({ min: 78, max: 170 }),
  gapY: 22,
  waypoint: 18,
  pad: 16,
  portSpread: 14,
});

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

/**
 * Place a pipeline in a box `width` wide: node boxes, and each edge as cubic
 * segments from its upstream's right side to its downstream's left side.
 * Nodes shrink and gaps close before the layout grows wider than the box; a
 * narrow layout is centred.
 *
 * Returns `{width, height, nodes: [{id, layer, x, y, w, h}], edges: [{from, to,
 * key, segments: [[p0, c1, c2, p1]]}]}` with points as `[x, y]`.
 */
export function layoutPipeline(pipeline, width = 800, options = {}) {
  const o = { ...LAYOUT, ...options };
  const { ids, edges } = graphOf(pipeline);
  const { layers, links } = orderLayers(ids, edges);
  const count = layers.length;
  const room = Math.max(0, num(width) - 2 * o.pad);
  let nodeW = o.nodeWidth.max;
  let gap = count > 1 ? (room - count * nodeW) / (count - 1) : 0;
  if (count > 1 && gap < o.gapX.min) {
    gap = o.gapX.min;
    nodeW = clamp((room - (count - 1) * gap) / count, o.nodeWidth.min, o.nodeWidth.max);
  } else if (gap > o.gapX.max) {
    gap = o.gapX.max;
  }
  const used = count * nodeW + Math.max(0, count - 1) * gap;
  const left = o.pad + Math.max(0, (room - used) / 2);
  const heightOf = (node) => (node.stage ? o.nodeHeight : o.waypoint);
  const columnHeight = (layer) =>
    layer.reduce((sum, node) => sum + heightOf(node), 0) + Math.max(0, layer.length - 1) * o.gapY;
  const inner = Math.max(o.nodeHeight, ...layers.map(columnHeight));
  const box = new Map();
  layers.forEach((layer, l) => {
    let y = o.pad + (inner - columnHeight(layer)) / 2;
    const x = left + l * (nodeW + gap);
    for (const node of layer) {
      const h = heightOf(node);
      box.set(node.id, { id: node.id, layer: l, stage: node.stage, x, y, w: nodeW, h });
      y += h + o.gapY;
    }
  });

  // Ports: the edges leaving (entering) a stage spread over its side, ordered
  // by where they go (come from), so that they do not cross at the stage.
  const centerY = (id) => box.get(id).y + box.get(id).h / 2;
  const outs = new Map();
  const ins = new Map();
  for (const link of links) {
    const next = link.path[1];
    const prev = link.path[link.path.length - 2];
    if (!outs.has(link.from)) outs.set(link.from, []);
    if (!ins.has(link.to)) ins.set(link.to, []);
    outs.get(link.from).push({ link, toward: next });
    ins.get(link.to).push({ link, toward: prev });
  }
  const portY = new Map();
  const spread = (list, id, side) => {
    const b = box.get(id);
    list.sort((x, y) => centerY(x.toward) - centerY(y.toward));
    const step = Math.min(o.portSpread, (b.h * 0.6) / Math.max(1, list.length));
    list.forEach((entry, i) => {
      portY.set(`${side}${edgeKey(entry.link.from, entry.link.to)}`, centerY(id) + (i - (list.length - 1) / 2) * step);
    });
  };
  for (const [id, list] of outs) spread(list, id, ">");
  for (const [id, list] of ins) spread(list, id, "<");

  const laid = links.map((link) => {
    const key = edgeKey(link.from, link.to);
    const from = box.get(link.from);
    const to = box.get(link.to);
    const points = [[from.x + from.w, portY.get(`>${key}`)]];
    for (const id of link.path.slice(1, -1)) points.push([box.get(id).x + box.get(id).w / 2, centerY(id)]);
    points.push([to.x, portY.get(`<${key}`)]);
    return { from: link.from, to: link.to, key, segments: curve(points) };
  });
  const nodes = [...box.values()].filter((b) => b.stage).map(({ stage, ...rest }) => rest);
  return {
    width: Math.max(num(width), Math.ceil(left + used + o.pad)),
    height: Math.ceil(inner + 2 * o.pad),
    nodes,
    edges: laid,
  };
}

/** Cubic segments through the points, leaving and entering each one horizontally. */
export function curve(points) {
  const segments = [];
  for (let i = 1; i < points.length; i += 1) {
    const p0 = points[i - 1];
    const p1 = points[i];
    const reach = Math.max(24, Math.abs(p1[0] - p0[0]) / 2);
    segments.push([p0, [p0[0] + reach, p0[1]], [p1[0] - reach, p1[1]], p1]);
  }
  return segments;
}

function bezier([p0, c1, c2, p1], t) {
  const u = 1 - t;
  const a = u * u * u;
  const b = 3 * u * u * t;
  const c = 3 * u * t * t;
  const d = t * t * t;
  return [a * p0[0] + b * c1[0] + c * c2[0] + d * p1[0], a * p0[1] + b * c1[1] + c * c2[1] + d * p1[1]];
}

/**
 * A path as a polyline with the distance along it at each point:
 * `{points: [[x, y]], lengths: [d], length}`, `steps` points per segment.
 */
export function samplePath(segments, steps = 24) {
  const points = [];
  for (const segment of segments) {
    for (let i = points.length ? 1 : 0; i <= steps; i += 1) points.push(bezier(segment, i / steps));
  }
  const lengths = [];
  let length = 0;
  points.forEach((point, i) => {
    if (i) length += Math.hypot(point[0] - points[i - 1][0], point[1] - points[i - 1][1]);
    lengths.push(length);
  });
  return { points, lengths, length };
}

/** The point `distance` along a sampled path (clamped to its ends), with the direction there. */
export function pointAlong(sampled, distance) {
  const { points, lengths, length } = sampled;
  if (!points.length) return { x: 0, y: 0, angle: 0 };
  const d = clamp(num(distance), 0, length);
  let lo = 0;
  let hi = lengths.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (lengths[mid] <= d) lo = mid;
    else hi = mid;
  }
  const a = points[lo];
  const b = points[Math.min(hi, points.length - 1)];
  const span = lengths[hi] - lengths[lo];
  const k = span > 0 ? (d - lengths[lo]) / span : 0;
  return { x: a[0] + (b[0] - a[0]) * k, y: a[1] + (b[1] - a[1]) * k, angle: Math.atan2(b[1] - a[1], b[0] - a[0]) };
}

// -- what an edge's figures look like ---------------------------------------------------

/** Line width in CSS px for a rate in items/s: thin at rest, thicker (logarithmically) with flow. */
export function edgeWidth(rate) {
  const r = Math.max(0, num(rate));
  return Math.min(12, 1.5 + 2 * Math.log2(1 + r));
}

/** How fast the particles run, px/s: still at rest, faster (logarithmically) with flow. */
export function particleSpeed(rate) {
  const r = Math.max(0, num(rate));
  if (r === 0) return 0;
  return Math.min(260, 26 + 42 * Math.log2(1 + r));
}

/** Distance between two particles, px: denser as the rate grows. */
export function particleSpacing(rate) {
  const r = Math.max(0, num(rate));
  return clamp(72 / (1 + Math.log2(1 + r)), 16, 72);
}

/** "12/s", "2.5/s", "0.40/s", "0/s". */
export function formatRate(rate) {
  const r = Math.max(0, num(rate));
  if (r === 0) return "0/s";
  if (r < 1) return `${r.toFixed(2)}/s`;
  if (r < 10) return `${r.toFixed(1)}/s`;
  return `${Math.round(r)}/s`;
}

/**
 * How an edge stands: its fill and whether it is congested, with the reasons.
 * `memory` is what the previous call returned as `memory` (waits and drops
 * seen, and when each last grew): waits or drops that grew keep the edge
 * congested for `HOLD_MS`, so that a one-second poll does not make it flicker.
 *
 * Returns `{fill, level, congested, reasons, memory}`; `level` is "closed",
 * "congested", "busy" (more than half full), "flowing" or "idle".
 */
export function assessEdge(edge, memory = null, now = Date.now()) {
  const depth = Math.max(0, num(edge?.depth));
  const capacity = Math.max(1, num(edge?.capacity, 1));
  const waits = Math.max(0, num(edge?.waits));
  const drops = Math.max(0, num(edge?.drops));
  const before = memory ?? {};
  const next = {
    waits,
    drops: Math.max(drops, num(before.drops, 0)),
    waitsAt: num(before.waitsAt, -Infinity),
    dropsAt: num(before.dropsAt, -Infinity),
  };
  if (memory && waits > num(before.waits, 0)) next.waitsAt = now;
  if (memory && drops > num(before.drops, 0)) next.dropsAt = now;
  const fill = Math.min(1, depth / capacity);
  const reasons = [];
  if (fill > CONGESTED_FILL) reasons.push(`queue ${depth}/${capacity} full`);
  if (now - next.waitsAt < HOLD_MS) reasons.push("the upstream waits for room");
  if (now - next.dropsAt < HOLD_MS) reasons.push(`dropping (${edge?.policy ?? "policy"})`);
  const closed = edge?.closed === true;
  let level = "idle";
  if (closed) level = "closed";
  else if (reasons.length) level = "congested";
  else if (fill > 0.5) level = "busy";
  else if (num(edge?.rate) > 0 || depth > 0) level = "flowing";
  return { fill, level, congested: !closed && reasons.length > 0, reasons, memory: next };
}

/**
 * Fold a stage's `drop` event into the memories of its edges (keyed by
 * `edgeKey`): they count as dropping from `now`, before the next poll says so.
 * Returns the keys it touched.
 */
export function noteDrops(memories, stageId, data, now = Date.now()) {
  const touched = [];
  for (const entry of Array.isArray(data?.edges) ? data.edges : []) {
    if (!entry || typeof entry.to !== "string") continue;
    const key = edgeKey(stageId, entry.to);
    const memory = memories.get(key) ?? { waits: 0, drops: 0, waitsAt: -Infinity, dropsAt: -Infinity };
    memory.drops = Math.max(num(memory.drops), num(entry.total));
    memory.dropsAt = now;
    memories.set(key, memory);
    touched.push(key);
  }
  return touched;
}

/** The tooltip of an edge: every figure, and why it is marked. */
export function edgeTitle(edge, assessment) {
  const lines = [
    `${edge.from} → ${edge.to}`,
    `rate ${formatRate(edge.rate)} (items delivered per second, last 5 s)`,
    `queue ${num(edge.depth)} of ${num(edge.capacity, 1)} (${Math.round(assessment.fill * 100)} % full)`,
    `policy ${edge.policy ?? "?"}: ${num(edge.waits)} waits, ${num(edge.drops)} dropped, ${num(edge.delivered)} delivered`,
  ];
  if (edge.closed) lines.push("closed: the downstream no longer reads");
  if (assessment.congested) lines.push(`congested: ${assessment.reasons.join("; ")}`);
  return lines.join("\n");
}
