import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { SeqTracker } from "../src/seq.js";

const event = (seq) => ({ seq, type: "result", agent_id: "echo", data: {} });

describe("SeqTracker", () => {
  test("asks for everything on the first connect, then resumes after the last seq", () => {
    const tracker = new SeqTracker();
    assert.equal(tracker.since, null);
    tracker.hello({ type: "hello", seq: 3 });
    for (const seq of [1, 2, 3, 4]) assert.deepEqual(tracker.accept(event(seq)), { fresh: true, gap: null });
    assert.equal(tracker.since, 4);
    assert.equal(tracker.received, 4);
  });

  test("drops duplicates that a reconnect replays", () => {
    const tracker = new SeqTracker();
    for (const seq of [1, 2, 3]) tracker.accept(event(seq));
    tracker.hello({ type: "hello", seq: 5 });
    assert.deepEqual(tracker.accept(event(3)), { fresh: false, gap: null });
    assert.deepEqual(tracker.accept(event(2)), { fresh: false, gap: null });
    assert.deepEqual(tracker.accept(event(4)), { fresh: true, gap: null });
    assert.equal(tracker.duplicates, 2);
    assert.equal(tracker.since, 4);
  });

  test("a gap frame moves the resume point past the missing seqs", () => {
    const tracker = new SeqTracker();
    tracker.accept(event(1));
    assert.deepEqual(tracker.gap({ type: "gap", from: 2, to: 9 }), { from: 2, to: 9 });
    assert.equal(tracker.since, 9);
    assert.equal(tracker.missed, 8);
    assert.deepEqual(tracker.accept(event(10)), { fresh: true, gap: null });
    assert.equal(tracker.since, 10);
  });

  test("a gap on the first connect (history rolled off) sets the resume point", () => {
    const tracker = new SeqTracker();
    tracker.gap({ type: "gap", from: 1, to: 400 });
    assert.equal(tracker.since, 400);
    assert.equal(tracker.missed, 400);
  });

  test("an overlapping gap counts only what was not seen", () => {
    const tracker = new SeqTracker();
    for (const seq of [1, 2, 3, 4, 5]) tracker.accept(event(seq));
    tracker.gap({ type: "gap", from: 3, to: 7 });
    assert.equal(tracker.missed, 2);
    assert.equal(tracker.since, 7);
  });

  test("a malformed gap is ignored", () => {
    const tracker = new SeqTracker();
    tracker.accept(event(1));
    assert.equal(tracker.gap({ type: "gap", from: 5, to: 2 }), null);
    assert.equal(tracker.gap({ type: "gap" }), null);
    assert.equal(tracker.since, 1);
  });

  test("a silent jump is reported as a gap", () => {
    const tracker = new SeqTracker();
    tracker.accept(event(1));
    assert.deepEqual(tracker.accept(event(5)), { fresh: true, gap: { from: 2, to: 4 } });
    assert.equal(tracker.missed, 3);
    assert.equal(tracker.since, 5);
  });

  test("a hello below what we saw means the stream started over", () => {
    const tracker = new SeqTracker();
    for (const seq of [1, 2, 3, 4, 5, 6]) tracker.accept(event(seq));
    assert.deepEqual(tracker.hello({ type: "hello", seq: 2 }), { reset: true });
    assert.equal(tracker.since, 2);
    assert.deepEqual(tracker.accept(event(3)), { fresh: true, gap: null });
  });

  test("a hello that says reset starts the tracker over, and remembers the new epoch", () => {
    const tracker = new SeqTracker();
    tracker.hello({ type: "hello", seq: 0, epoch: "old" });
    for (const seq of [1, 2, 3, 4, 5, 6]) tracker.accept(event(seq));
    assert.equal(tracker.epoch, "old");
    // The new numbering has passed the old seq already: only the epoch tells.
    assert.deepEqual(tracker.hello({ type: "hello", seq: 40, epoch: "new", reset: true }), { reset: true });
    assert.equal(tracker.epoch, "new");
    assert.equal(tracker.since, null);
    assert.deepEqual(tracker.accept(event(1)), { fresh: true, gap: null });
  });

  test("the same epoch is no reset, whatever its seq", () => {
    const tracker = new SeqTracker();
    tracker.hello({ type: "hello", seq: 0, epoch: "e" });
    tracker.accept(event(1));
    assert.deepEqual(tracker.hello({ type: "hello", seq: 9, epoch: "e" }), { reset: false });
    assert.equal(tracker.since, 1);
  });

  test("a hello at or above what we saw changes nothing", () => {
    const tracker = new SeqTracker();
    tracker.accept(event(1));
    assert.deepEqual(tracker.hello({ type: "hello", seq: 1 }), { reset: false });
    assert.deepEqual(tracker.hello({ type: "hello", seq: 9 }), { reset: false });
    assert.equal(tracker.since, 1);
  });

  test("frames without a seq pass through untracked", () => {
    const tracker = new SeqTracker();
    assert.deepEqual(tracker.accept({ type: "custom" }), { fresh: true, gap: null });
    assert.equal(tracker.since, null);
  });
});
