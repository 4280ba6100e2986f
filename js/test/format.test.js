import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { VITALS, formatVital, vitalTitle } from "../src/format.js";

describe("formatVital", () => {
  test("flow is events per second: two decimals below 1, one below 100, whole above", () => {
    assert.deepEqual(formatVital("flow", 0), { text: "0", unit: "ev/s" });
    assert.deepEqual(formatVital("flow", 0.2), { text: "0.20", unit: "ev/s" });
    assert.deepEqual(formatVital("flow", 4.125), { text: "4.1", unit: "ev/s" });
    assert.deepEqual(formatVital("flow", 250.4), { text: "250", unit: "ev/s" });
    assert.deepEqual(formatVital("flow", -3), { text: "0", unit: "ev/s" });
  });

  test("pressure is a whole percent from 0 to 100", () => {
    assert.deepEqual(formatVital("pressure", 12.4), { text: "12", unit: "%" });
    assert.deepEqual(formatVital("pressure", 140), { text: "100", unit: "%" });
    assert.deepEqual(formatVital("pressure", 0), { text: "0", unit: "%" });
  });

  test("temperature and turbulence are 0-1 with two decimals", () => {
    assert.deepEqual(formatVital("temperature", 0.4234), { text: "0.42", unit: "" });
    assert.deepEqual(formatVital("temperature", 1.7), { text: "1.00", unit: "" });
    assert.deepEqual(formatVital("turbulence", 0), { text: "0.00", unit: "" });
    assert.deepEqual(formatVital("turbulence", -0.5), { text: "0.00", unit: "" });
  });

  test("counts are whole numbers", () => {
    assert.deepEqual(formatVital("events", 1234), { text: "1234", unit: "" });
    assert.deepEqual(formatVital("observers", 3), { text: "3", unit: "" });
  });

  test("anything not a finite number is a dash, never NaN", () => {
    for (const value of [Number.NaN, Infinity, null, undefined, "3", {}]) {
      for (const name of Object.keys(VITALS)) {
        const { text } = formatVital(name, value);
        assert.equal(text, "–", `${name} ${String(value)}`);
      }
    }
  });
});

describe("vital tooltips", () => {
  test("every figure says what it is", () => {
    for (const [name, spec] of Object.entries(VITALS)) {
      assert.ok(spec.label, name);
      assert.ok(spec.title.length > 20, name);
      assert.equal(vitalTitle(name, 0).startsWith(spec.title), true, name);
    }
    assert.equal(vitalTitle("nope", 1), "");
  });

  test("the event count is the agent's own: events produced, seq of the latest", () => {
    assert.match(vitalTitle("events", 42), /^Events this agent produced; seq of the latest\. \(seq 42\)$/);
    assert.equal(vitalTitle("events", Number.NaN), VITALS.events.title);
  });

  test("the rates name their window and the 0-1 figures their scale", () => {
    assert.match(VITALS.flow.title, /last 10 s/);
    assert.match(VITALS.turbulence.title, /0–1.*last 10 s/);
    assert.match(VITALS.temperature.title, /0–1/);
    assert.match(VITALS.pressure.title, /0–100 %/);
  });
});
