import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Emitter } from "../src/emitter.js";
import { AgentStore } from "../src/store.js";

function store(agentId = null) {
  const said = [];
  return { said, store: new AgentStore({ agentId, emit: (name) => said.push(name) }) };
}

describe("AgentStore", () => {
  test("a new agent is announced once, and listed in display order", () => {
    const { store: s, said } = store();
    s.ensure("b");
    s.ensure("a");
    s.ensure("b");
    assert.deepEqual(said, ["agents", "agents"]);
    assert.deepEqual(s.ids(), ["a", "b"]);
    assert.deepEqual(s.known(), ["b", "a"]);
    assert.equal(s.remove("a"), true);
    assert.equal(s.remove("a"), false);
    assert.deepEqual(said, ["agents", "agents", "agents"]);
    assert.equal(s.record("a"), null);
  });

  test("frames fold into their agent's record; a store of one agent ignores the others", () => {
    const { store: s } = store("echo");
    assert.equal(s.fold(null, { seq: 1, type: "result", agent_id: "other", data: {} }), null);
    assert.equal(s.fold(null, { seq: 1, type: "result", data: {} }), null, "no agent at all");
    const folded = s.fold("echo", { type: "hello", seq: 3, snapshot: { state: "flowing" } });
    assert.equal(folded.id, "echo");
    assert.equal(s.record("echo").state, "flowing");
    assert.deepEqual(s.ids(), ["echo"]);
  });

  test("a listing sets a new agent's status, and only a missing genus of a known one", () => {
    const { store: s } = store();
    s.learn({ id: "a", state: "flowing", pressure: 40 });
    s.learn({ id: "a", state: "stopped", pressure: 90, genus: "echo" });
    const record = s.record("a");
    assert.equal(record.state, "flowing");
    assert.equal(record.pressure, 40);
    assert.equal(record.genus, "echo");
  });

  test("pending tokens are listed oldest first and leave when settled", () => {
    const { store: s } = store();
    s.ensure("a");
    s.ensure("b");
    assert.equal(s.setPending("a", [{ id: "t2", created_at: "2024-01-02" }]), true);
    assert.equal(s.setPending("b", [{ id: "t1", created_at: "2024-01-01" }]), true);
    assert.equal(s.setPending("ghost", []), false);
    assert.deepEqual(s.pending().map((p) => `${p.agentId}/${p.token.id}`), ["b/t1", "a/t2"]);
    assert.deepEqual(s.pending("a").map((p) => p.token.id), ["t2"]);
    assert.equal(s.settle("a", "t2"), true);
    assert.equal(s.settle("a", "t2"), false);
    assert.deepEqual(s.pending("a"), []);
  });

  test("a connection state is kept per agent", () => {
    const { store: s } = store();
    s.ensure("a");
    assert.equal(s.setConnection("a", "live", ""), true);
    assert.equal(s.setConnection("ghost", "live", ""), false);
    assert.deepEqual(s.record("a").connection, { status: "live", detail: "" });
  });
});

describe("Emitter", () => {
  test("every listener hears, a failing one does not stop the rest, off() stops one", (t) => {
    const errors = t.mock.method(console, "error", () => {});
    const events = new Emitter();
    const heard = [];
    events.on("update", () => {
      throw new Error("broken view");
    });
    const off = events.on("update", (id) => heard.push(`first ${id}`));
    events.on("update", (id) => heard.push(`second ${id}`));
    events.emit("update", "a");
    off();
    events.emit("update", "b");
    events.emit("agents");
    assert.deepEqual(heard, ["first a", "second a", "second b"]);
    assert.equal(errors.mock.callCount(), 2);
    events.clear();
    events.emit("update", "c");
    assert.equal(heard.length, 3);
  });
});
