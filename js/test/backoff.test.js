import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { backoffDelay } from "../src/backoff.js";

describe("backoff", () => {
  test("grows exponentially and stays within [cap/2, cap]", () => {
    for (let attempt = 0; attempt < 12; attempt += 1) {
      const cap = Math.min(30000, 500 * 2 ** attempt);
      assert.equal(backoffDelay(attempt, { random: () => 0 }), cap / 2);
      assert.equal(backoffDelay(attempt, { random: () => 1 }), cap);
      for (let i = 0; i < 50; i += 1) {
        const delay = backoffDelay(attempt);
        assert.ok(delay >= cap / 2 && delay <= cap, `attempt ${attempt}: ${delay}`);
      }
    }
  });

  test("is capped, also for absurd attempts", () => {
    assert.equal(backoffDelay(1000, { random: () => 1 }), 30000);
    assert.equal(backoffDelay(Number.POSITIVE_INFINITY, { random: () => 1 }), 30000);
    assert.equal(backoffDelay(Number.NaN, { random: () => 1 }), 500);
    assert.equal(backoffDelay(-3, { random: () => 1 }), 500);
  });

  test("jitter spreads reconnects", () => {
    const delays = new Set(Array.from({ length: 40 }, () => backoffDelay(4)));
    assert.ok(delays.size > 30, "random delays should differ");
  });

  test("the jitter fraction and bounds are configurable", () => {
    assert.equal(backoffDelay(2, { initial: 100, jitter: 0, random: () => 0.7 }), 400);
    assert.equal(backoffDelay(2, { initial: 100, jitter: 1, random: () => 0.25 }), 100);
    assert.equal(backoffDelay(10, { initial: 100, max: 1000, random: () => 1 }), 1000);
  });
});
