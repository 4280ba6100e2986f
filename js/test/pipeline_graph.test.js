import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  CONGESTED_FILL,
  HOLD_MS,
  assessEdge,
  assignLayers,
  edgeKey,
  edgeWidth,
  formatRate,
  graphOf,
  layoutPipeline,
  noteDrops,
  orderLayers,
  particleSpacing,
  particleSpeed,
  pointAlong,
  samplePath,
} from "../src/pipeline_graph.js";

const stage = (id) => ({ id, state: "flowing", genus: null });
const edge = (from, to, extra = {}) => ({
  from,
  to,
  rate: 1,
  depth: 0,
  capacity: 10,
  drops: 0,
  delivered: 0,
  policy: "block",
  waits: 0,
  closed: false,
  ...extra,
});
const pipeline = (ids, pairs) => ({ id: "p", stages: ids.map(stage), edges: pairs.map(([a, b]) => edge(a, b)) });

const requests = pipeline(
  ["commands", "parse", "route", "review"],
  [
    ["commands", "parse"],
    ["parse", "route"],
    ["route", "review"],
  ],
);
// parse fans out to enrich and audit, which fan in to store; parse also feeds store directly.
const diamond = pipeline(
  ["parse", "enrich", "audit", "store"],
  [
    ["parse", "enrich"],
    ["parse", "audit"],
    ["enrich", "store"],
    ["audit", "store"],
  ],
);

describe("layers", () => {
  test("a chain is one stage per layer, in order", () => {
    const { ids, edges } = graphOf(requests);
    const layers = assignLayers(ids, edges);
    assert.deepEqual(
      ids.map((id) => layers.get(id)),
      [0, 1, 2, 3],
    );
  });

  test("fan-out and fan-in share layers; the longest path decides", () => {
    const { ids, edges } = graphOf({ ...diamond, edges: [...diamond.edges, edge("parse", "store")] });
    const layers = assignLayers(ids, edges);
    assert.equal(layers.get("parse"), 0);
    assert.equal(layers.get("enrich"), 1);
    assert.equal(layers.get("audit"), 1);
    assert.equal(layers.get("store"), 2);
  });

  test("an edge that skips a layer gets a waypoint there", () => {
    const { ids, edges } = graphOf({ ...diamond, edges: [...diamond.edges, edge("parse", "store")] });
    const { layers, links } = orderLayers(ids, edges);
    const skip = links.find((link) => link.from === "parse" && link.to === "store");
    assert.equal(skip.path.length, 3);
    assert.ok(layers[1].some((node) => node.id === skip.path[1] && !node.stage));
  });

  test("a cycle does not hang the layout, and every stage is placed", () => {
    const { ids, edges } = graphOf(pipeline(["a", "b", "c"], [["a", "b"], ["b", "c"], ["c", "b"]]));
    const layers = assignLayers(ids, edges);
    assert.equal(layers.size, 3);
    assert.ok(layout({ ...pipeline(["a", "b", "c"], [["a", "b"], ["b", "c"], ["c", "b"]]) }).nodes.length === 3);
  });

  test("edges naming unknown stages add them; duplicates and self-loops are dropped", () => {
    const { ids, edges } = graphOf({ stages: [stage("a")], edges: [edge("a", "b"), edge("a", "b"), edge("b", "b")] });
    assert.deepEqual(ids, ["a", "b"]);
    assert.deepEqual(edges, [{ from: "a", to: "b" }]);
  });

  test("ordering within a layer uncrosses edges", () => {
    // x1 -> y2, x2 -> y1: with y1 first the edges cross; the sweep puts y2 first.
    const crossed = pipeline(["x1", "x2", "y1", "y2"], [["x1", "y2"], ["x2", "y1"]]);
    const { ids, edges } = graphOf(crossed);
    const { layers } = orderLayers(ids, edges);
    assert.deepEqual(
      layers[1].map((node) => node.id),
      ["y2", "y1"],
    );
  });
});

function layout(p, width = 1000) {
  return layoutPipeline(p, width);
}

describe("layout", () => {
  test("stages run left to right, each edge from a right side to a left side", () => {
    const laid = layout(requests);
    const x = Object.fromEntries(laid.nodes.map((node) => [node.id, node.x]));
    assert.ok(x.commands < x.parse && x.parse < x.route && x.route < x.review);
    for (const e of laid.edges) {
      const from = laid.nodes.find((node) => node.id === e.from);
      const to = laid.nodes.find((node) => node.id === e.to);
      const first = e.segments[0][0];
      const last = e.segments[e.segments.length - 1][3];
      assert.equal(first[0], from.x + from.w);
      assert.equal(last[0], to.x);
      assert.ok(first[1] > from.y && first[1] < from.y + from.h);
    }
    assert.equal(laid.edges.length, 3);
  });

  test("fan-out stages stack in one column without overlapping", () => {
    const laid = layout(diamond);
    const enrich = laid.nodes.find((node) => node.id === "enrich");
    const audit = laid.nodes.find((node) => node.id === "audit");
    assert.equal(enrich.x, audit.x);
    const [top, bottom] = enrich.y < audit.y ? [enrich, audit] : [audit, enrich];
    assert.ok(top.y + top.h <= bottom.y);
    // The two edges out of parse leave it at different heights.
    const outs = laid.edges.filter((e) => e.from === "parse").map((e) => e.segments[0][0][1]);
    assert.notEqual(outs[0], outs[1]);
    assert.ok(laid.height >= 2 * enrich.h);
  });

  test("it fits the width it is given, down to a floor, and centres what is narrower", () => {
    const wide = layout(requests, 2000);
    const narrow = layout(requests, 700);
    const right = (laid) => Math.max(...laid.nodes.map((node) => node.x + node.w));
    assert.equal(wide.width, 2000);
    assert.ok(wide.nodes[0].x > 100, "centred");
    assert.ok(right(narrow) <= narrow.width);
    assert.ok(narrow.nodes[0].w < wide.nodes[0].w);
    const tiny = layout(requests, 200);
    assert.ok(tiny.width > 200, "beyond the floor it grows wider than the box (and scrolls)");
  });

  test("an empty pipeline lays out as nothing", () => {
    const laid = layout({ id: "none", stages: [], edges: [] });
    assert.deepEqual(laid.nodes, []);
    assert.deepEqual(laid.edges, []);
  });
});

describe("paths", () => {
  test("a sampled path runs from its first point to its last", () => {
    const laid = layout(requests);
    const sampled = samplePath(laid.edges[0].segments);
    const start = pointAlong(sampled, 0);
    const end = pointAlong(sampled, sampled.length);
    assert.deepEqual([start.x, start.y], laid.edges[0].segments[0][0]);
    assert.deepEqual([end.x, end.y], laid.edges[0].segments[0][3]);
    const middle = pointAlong(sampled, sampled.length / 2);
    assert.ok(middle.x > start.x && middle.x < end.x);
    assert.equal(pointAlong(sampled, -5).x, start.x);
    assert.equal(pointAlong(sampled, sampled.length * 2).x, end.x);
  });
});

describe("edge figures", () => {
  test("thickness and speed follow the rate; at rest nothing moves", () => {
    assert.equal(particleSpeed(0), 0);
    assert.ok(edgeWidth(0) > 0);
    assert.ok(edgeWidth(10) > edgeWidth(1) && edgeWidth(1) > edgeWidth(0));
    assert.ok(particleSpeed(10) > particleSpeed(1));
    assert.ok(edgeWidth(1e9) <= 12 && particleSpeed(1e9) <= 260);
    assert.ok(particleSpacing(50) < particleSpacing(0.1));
    assert.equal(edgeWidth(Number.NaN), edgeWidth(0));
  });

  test("rates read short", () => {
    assert.equal(formatRate(0), "0/s");
    assert.equal(formatRate(0.4), "0.40/s");
    assert.equal(formatRate(2.54), "2.5/s");
    assert.equal(formatRate(123.4), "123/s");
    assert.equal(formatRate(undefined), "0/s");
  });

  test("a full edge is congested", () => {
    const capacity = 10;
    const over = Math.floor(CONGESTED_FILL * capacity) + 1;
    const full = assessEdge(edge("a", "b", { depth: over, capacity }));
    assert.equal(full.congested, true);
    assert.equal(full.level, "congested");
    assert.match(full.reasons[0], /queue/);
    const half = assessEdge(edge("a", "b", { depth: 6, capacity }));
    assert.equal(half.congested, false);
    assert.equal(half.level, "busy");
    assert.equal(assessEdge(edge("a", "b", { rate: 0 })).level, "idle");
    assert.equal(assessEdge(edge("a", "b")).level, "flowing");
  });

  test("waits or drops that grow mark the edge for a while, not forever", () => {
    const first = assessEdge(edge("a", "b", { waits: 5, drops: 2 }), null, 1000);
    assert.equal(first.congested, false, "counts seen once say nothing about now");
    const grown = assessEdge(edge("a", "b", { waits: 6, drops: 2 }), first.memory, 2000);
    assert.equal(grown.congested, true);
    assert.deepEqual(grown.reasons, ["the upstream waits for room"]);
    const dropping = assessEdge(edge("a", "b", { waits: 6, drops: 9, policy: "drop_newest" }), grown.memory, 3000);
    assert.deepEqual(dropping.reasons, ["the upstream waits for room", "dropping (drop_newest)"]);
    const calm = assessEdge(edge("a", "b", { waits: 6, drops: 9 }), dropping.memory, 3000 + HOLD_MS + 1);
    assert.equal(calm.congested, false);
  });

  test("a drop event marks its edges before the next poll", () => {
    const memories = new Map();
    const touched = noteDrops(memories, "stamp", { pipeline: "p", edges: [{ to: "sink", total: 7, dropped: 3 }] }, 500);
    assert.deepEqual(touched, [edgeKey("stamp", "sink")]);
    const seen = assessEdge(edge("stamp", "sink", { drops: 7 }), memories.get(edgeKey("stamp", "sink")), 600);
    assert.equal(seen.congested, true);
    assert.equal(seen.memory.drops, 7);
    assert.deepEqual(noteDrops(memories, "stamp", { edges: "nonsense" }), []);
  });

  test("a closed edge is shown closed, not congested", () => {
    const closed = assessEdge(edge("a", "b", { closed: true, depth: 10 }));
    assert.equal(closed.level, "closed");
    assert.equal(closed.congested, false);
  });
});
