import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { LOG_GROUPS, entryShown, freshEntries, groupCounts, groupOf, prettyFrame } from "../src/log_model.js";
import { applyFrame, createRecord } from "../src/record.js";

function sampleLog() {
  const record = createRecord("echo");
  applyFrame(record, { type: "hello", seq: 0, epoch: "a", agent_id: "echo", snapshot: {} });
  applyFrame(record, { seq: 1, type: "perturbation", data: { perturbation_id: "p1", priority: 100, by: "ann" } });
  applyFrame(record, { seq: 2, type: "result", data: { output: { hello: "world" } } });
  applyFrame(record, { seq: 3, type: "error", data: { error: "boom", error_type: "ValueError" } });
  applyFrame(record, { type: "hello", seq: 9, epoch: "b", reset: true, agent_id: "echo", snapshot: {} });
  applyFrame(record, { seq: 1, type: "semaphore_ejected", data: { token: { id: "t1", prompt: "Delete 47 records?" } } });
  applyFrame(record, { seq: 2, type: "drop", data: { pipeline: "p", edges: [] } });
  return record;
}

describe("event log model", () => {
  test("every event type falls in one chip's group; a separator in none", () => {
    assert.deepEqual(LOG_GROUPS.map((g) => g.key), ["state", "perturbation", "result", "error", "semaphore", "gap", "other"]);
    assert.equal(groupOf("semaphore_voided"), "semaphore");
    assert.equal(groupOf("drop"), "other");
    assert.equal(groupOf("gap"), "gap");
    assert.equal(groupOf("reset"), null);
  });

  test("the record keeps each line's frame for its expanded view; the separator has none", () => {
    const { log } = sampleLog();
    assert.deepEqual(log.map((e) => e.type), ["perturbation", "result", "error", "reset", "semaphore_ejected", "drop"]);
    assert.equal(log[3].frame, null);
    assert.deepEqual(JSON.parse(prettyFrame(log[1])), { seq: 2, type: "result", data: { output: { hello: "world" } } });
    assert.match(prettyFrame(log[1]), /\n  "seq": 2,/);
    assert.match(prettyFrame(log[3]), /started over/);
  });

  test("a type filter hides its group, never the separator", () => {
    const { log } = sampleLog();
    const hidden = new Set(["result", "error", "perturbation", "semaphore", "other"]);
    assert.deepEqual(log.filter((e) => entryShown(e, { hidden })).map((e) => e.type), ["reset"]);
  });

  test("a search matches the line and the whole frame, every word, any case", () => {
    const { log } = sampleLog();
    const shown = (query) => log.filter((e) => entryShown(e, { query })).map((e) => e.type);
    assert.deepEqual(shown("WORLD"), ["result", "reset"]);
    assert.deepEqual(shown("valueerror boom"), ["error", "reset"]);
    assert.deepEqual(shown("ann"), ["perturbation", "reset"]);
    assert.deepEqual(shown("   "), log.map((e) => e.type));
  });

  test("fresh lines after what was drawn, and how many rolled off meanwhile", () => {
    const log = [5, 6, 7].map((n) => ({ n, type: "result", text: String(n) }));
    assert.deepEqual(freshEntries(log, 0), { fresh: log, lost: 0 });
    assert.deepEqual(freshEntries(log, 2), { fresh: log, lost: 2 });
    assert.deepEqual(freshEntries(log, 6), { fresh: [log[2]], lost: 0 });
    assert.deepEqual(freshEntries(log, 7), { fresh: [], lost: 0 });
  });

  test("the chips count the kept lines of their group", () => {
    const counts = groupCounts(sampleLog().log);
    assert.deepEqual(counts, { state: 0, perturbation: 1, result: 1, error: 1, semaphore: 1, gap: 0, other: 1 });
  });
});
