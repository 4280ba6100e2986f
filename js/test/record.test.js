import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { PRIORITY_HELP, countdown, formatLatency, parseInput, parsePriority, statusText } from "../src/format.js";
import { applyFrame, createRecord, heatBand, heatOf, heatRgb, pressureLevel } from "../src/record.js";
import { Status } from "../src/status.js";

describe("agent record", () => {
  test("a hello snapshot sets vitals and pending tokens", () => {
    const record = createRecord("approver");
    applyFrame(record, {
      type: "hello",
      seq: 7,
      agent_id: "approver",
      snapshot: { state: "flowing", pressure: 12, flow: 2, observers: 3, pending: [{ id: "t1", prompt: "Delete?" }] },
    });
    assert.equal(record.state, "flowing");
    assert.equal(record.observers, 3);
    assert.equal(record.seq, 7);
    assert.deepEqual([...record.pending.keys()], ["t1"]);
    assert.equal(record.events, 0);
  });

  test("a hello that says the stream started over leaves a separator in the log", () => {
    const record = createRecord("echo");
    applyFrame(record, { type: "hello", seq: 0, epoch: "a", agent_id: "echo", snapshot: {} });
    applyFrame(record, { seq: 1, type: "result", data: { output: 1 } });
    applyFrame(record, { type: "hello", seq: 3, epoch: "b", reset: true, agent_id: "echo", snapshot: {} });
    applyFrame(record, { seq: 1, type: "state", data: { state: "flowing" } });
    assert.deepEqual(record.log.map((l) => l.type), ["result", "reset", "state"]);
    assert.match(record.log[1].text, /started over/);
  });

  test("a dead owner's unavailable rests the agent; available waits for its next state", () => {
    const record = createRecord("echo");
    applyFrame(record, { seq: 1, type: "state", data: { state: "flowing", previous: "dormant" } });
    applyFrame(record, { seq: 2, type: "state", data: { state: "unavailable", previous: "flowing" } });
    assert.equal(record.state, "unavailable");
    assert.equal(heatOf(record, Date.now() + 60000), 0);
    applyFrame(record, { seq: 3, type: "state", data: { state: "available", previous: "unavailable" } });
    assert.equal(record.state, "unavailable");
    applyFrame(record, { seq: 4, type: "state", data: { state: "flowing", previous: "dormant" } });
    assert.equal(record.state, "flowing");
    assert.match(record.log[1].text, /gone/);
    assert.match(record.log[2].text, /available again/);
  });

  test("events count, metabolism samples, errors flash, semaphores come and go", () => {
    const record = createRecord("a");
    applyFrame(record, { seq: 1, type: "metabolism", data: { state: "flowing", pressure: 60, flow: 4, temperature: 0.2, turbulence: 0, queue_depth: 1, observers: 1 } });
    const error = applyFrame(record, { seq: 2, type: "error", data: { error: "boom", error_type: "ValueError" } });
    applyFrame(record, { seq: 3, type: "semaphore_ejected", data: { token: { id: "t9", prompt: "ok?" } } });
    assert.equal(record.pending.size, 1);
    applyFrame(record, { seq: 4, type: "semaphore_voided", data: { token_id: "t9", reason: "deadline" } });
    assert.equal(record.pending.size, 0);
    assert.equal(record.events, 4);
    assert.equal(record.samples.length, 1);
    assert.equal(record.pressure, 60);
    assert.ok(error.error);
    assert.deepEqual(record.log.map((l) => l.type), ["error", "semaphore_ejected", "semaphore_voided"]);
  });

  test("pressure levels: healthy < 50, degraded 50-80, critical > 80", () => {
    assert.equal(pressureLevel(0), "healthy");
    assert.equal(pressureLevel(49.9), "healthy");
    assert.equal(pressureLevel(50), "degraded");
    assert.equal(pressureLevel(80), "degraded");
    assert.equal(pressureLevel(80.1), "critical");
    assert.equal(pressureLevel(undefined), "healthy");
  });

  test("heat follows temperature, flow and recent activity; the palette runs idle to intense", () => {
    const record = createRecord("a");
    assert.equal(heatOf(record, 1000), 0);
    record.flow = 30;
    assert.ok(heatOf(record) > 0.99);
    record.state = "stopped";
    assert.equal(heatOf(record), 0);
    assert.deepEqual(heatRgb(0), [0x4a, 0x4a, 0x5c]);
    assert.deepEqual(heatRgb(0.33), [0xc9, 0x7b, 0x84]);
    assert.deepEqual(heatRgb(0.66), [0xe6, 0xa3, 0x52]);
    assert.deepEqual(heatRgb(1), [0xf5, 0xd0, 0x8a]);
    assert.equal(heatBand(0.1), "idle");
    assert.equal(heatBand(0.95), "intense");
  });
});

describe("console input and texts", () => {
  test("JSON when it parses, else a string", () => {
    assert.deepEqual(parseInput('{"records": 3}'), { ok: true, data: { records: 3 }, json: true });
    assert.deepEqual(parseInput("42"), { ok: true, data: 42, json: true });
    assert.deepEqual(parseInput("hello there "), { ok: true, data: "hello there", json: false });
    assert.equal(parseInput("   ").ok, false);
  });

  test("text that starts like JSON but does not parse is refused, unless sent as text", () => {
    for (const broken of ['{"broken', "[1, 2", "{records: 3}"]) {
      const refused = parseInput(broken);
      assert.equal(refused.ok, false, broken);
      assert.equal(refused.code, "broken_json");
      assert.match(refused.message, /not valid/);
      assert.match(refused.message, /send as text/);
      assert.deepEqual(parseInput(broken, { asText: true }), { ok: true, data: broken, json: false });
    }
    // Sent as text, valid JSON is a string too.
    assert.deepEqual(parseInput(" 42 ", { asText: true }), { ok: true, data: "42", json: false });
    assert.equal(parseInput("", { asText: true }).ok, false);
  });

  test("the priority scale and latencies as the console says them", () => {
    assert.match(PRIORITY_HELP.short, /1–199/);
    assert.match(PRIORITY_HELP.short, /default 100/);
    assert.match(PRIORITY_HELP.short, /higher/);
    assert.match(PRIORITY_HELP.long, /200 is reserved/);
    assert.equal(formatLatency(41.6), "42 ms");
    assert.equal(formatLatency(1250), "1250 ms");
    assert.equal(formatLatency(-1), "");
    assert.equal(formatLatency(Number.NaN), "");
  });

  test("priorities are whole numbers from 1 to 199", () => {
    assert.deepEqual(parsePriority(""), { ok: true, priority: 100 });
    assert.deepEqual(parsePriority("150"), { ok: true, priority: 150 });
    assert.equal(parsePriority("200").ok, false);
    assert.equal(parsePriority("0").ok, false);
    assert.equal(parsePriority("2.5").ok, false);
  });

  test("deadline countdowns", () => {
    const now = Date.parse("2025-01-01T00:00:00Z");
    assert.equal(countdown("2025-01-01T00:04:05Z", now), "4:05");
    assert.equal(countdown("2025-01-01T00:00:30Z", now), "30 s");
    assert.equal(countdown("2025-01-01T02:00:00Z", now), "2:00:00");
    assert.equal(countdown("2024-12-31T23:59:00Z", now), "overdue");
    assert.equal(countdown(null, now), null);
  });

  test("every problem state has a message, live has none", () => {
    for (const status of [Status.EXTENSION_MISSING, Status.UNKNOWN_AGENT, Status.ACCESS_DENIED, Status.RECONNECTING]) {
      assert.ok(statusText(status, "", "echo"));
    }
    assert.match(statusText(Status.UNKNOWN_AGENT, "", "echo"), /"echo"/);
    assert.equal(statusText(Status.LIVE, ""), null);
  });
});
