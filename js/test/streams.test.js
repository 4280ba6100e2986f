import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CommStream, statusOfError } from "../src/comm.js";
import { AgentHub, chooseTransport } from "../src/hub.js";
import { ObserveStream } from "../src/observe.js";
import { Status } from "../src/status.js";

/** A fake world: WebSockets we drive by hand, canned REST answers, manual timers. */
function world(routes = {}) {
  const sockets = [];
  const timers = [];
  const requests = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      sockets.push(this);
    }
    send(data) {
      this.sent.push(JSON.parse(data));
    }
    close() {}
    open() {
      this.onopen?.();
    }
    frame(value) {
      this.onmessage?.({ data: JSON.stringify(value) });
    }
    drop(code = 1006) {
      this.onclose?.({ code });
    }
  }
  const env = {
    WebSocket: FakeSocket,
    location: { protocol: "http:", host: "h:1" },
    document: { cookie: "_xsrf=x1" },
    random: () => 0.5,
    fetch: async (url, init) => {
      requests.push({ url, init });
      const [status, body] = routes[url] ?? [404, null];
      if (status === 0) throw new Error("network down");
      return { ok: status >= 200 && status < 300, status, statusText: "", json: async () => body };
    },
    setTimeout: (fn, ms) => timers.push({ fn, ms }) - 1,
    clearTimeout: (id) => {
      if (timers[id]) timers[id].fn = null;
    },
    setInterval: () => 0,
    clearInterval: () => {},
  };
  const runTimers = async () => {
    const due = timers.splice(0);
    for (const timer of due) timer.fn?.();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { env, sockets, timers, requests, runTimers };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
const marker = { baseUrl: "/a%40b/", terrarium: { version: "0.1.0", protocol: 1 } };

function observe(w, extra = {}) {
  const frames = [];
  const statuses = [];
  const stream = new ObserveStream({
    agentId: "echo",
    config: marker,
    env: w.env,
    onFrame: (frame) => frames.push(frame),
    onStatus: (status, detail) => statuses.push([status, detail]),
    ...extra,
  }).start();
  return { stream, frames, statuses };
}

describe("ObserveStream", () => {
  test("connects, goes live on hello, and passes events in order", () => {
    const w = world();
    const { stream, frames, statuses } = observe(w);
    assert.equal(w.sockets[0].url, "ws://h:1/a%40b/terrarium/observe/echo");
    w.sockets[0].open();
    w.sockets[0].frame({ type: "hello", seq: 2, agent_id: "echo", snapshot: { state: "flowing" } });
    w.sockets[0].frame({ seq: 1, type: "result", agent_id: "echo", data: {} });
    w.sockets[0].frame({ seq: 2, type: "result", agent_id: "echo", data: {} });
    w.sockets[0].frame({ type: "pong" });
    assert.deepEqual(frames.map((f) => f.type), ["hello", "result", "result"]);
    assert.equal(stream.status, Status.LIVE);
    assert.equal(statuses.at(-1)[0], Status.LIVE);
    assert.equal(stream.since, 2);
  });

  test("reconnects with backoff and ?since=, dropping replayed duplicates", async () => {
    const w = world();
    const { stream, frames } = observe(w);
    const first = w.sockets[0];
    first.frame({ type: "hello", seq: 0, agent_id: "echo", snapshot: {} });
    first.frame({ seq: 1, type: "result", agent_id: "echo", data: {} });
    first.frame({ seq: 2, type: "result", agent_id: "echo", data: {} });
    first.drop(1006);
    await settle();
    assert.equal(stream.status, Status.RECONNECTING);
    assert.equal(w.timers.length, 1);
    assert.ok(w.timers[0].ms >= 250 && w.timers[0].ms <= 500);
    await w.runTimers();
    const second = w.sockets[1];
    assert.equal(second.url, "ws://h:1/a%40b/terrarium/observe/echo?since=2");
    second.frame({ type: "hello", seq: 4, agent_id: "echo", snapshot: {} });
    second.frame({ seq: 2, type: "result", agent_id: "echo", data: {} });
    second.frame({ seq: 3, type: "result", agent_id: "echo", data: {} });
    second.frame({ type: "gap", from: 4, to: 6 });
    second.frame({ seq: 9, type: "result", agent_id: "echo", data: {} });
    assert.equal(stream.status, Status.LIVE);
    assert.deepEqual(
      frames.map((f) => (f.type === "gap" ? `gap ${f.from}-${f.to}` : `${f.type} ${f.seq}`)),
      ["hello 0", "result 1", "result 2", "hello 4", "result 3", "gap 4-6", "gap 7-8", "result 9"],
    );
    assert.equal(stream.since, 9);
  });

  test("resumes with the epoch it was told, and follows a stream that started over", async () => {
    const w = world();
    const { stream, frames } = observe(w);
    const first = w.sockets[0];
    first.frame({ type: "hello", seq: 0, epoch: "e1", agent_id: "echo", snapshot: {} });
    first.frame({ seq: 1, type: "result", agent_id: "echo", data: {} });
    first.frame({ seq: 2, type: "result", agent_id: "echo", data: {} });
    first.drop(1006);
    await settle();
    await w.runTimers();
    const second = w.sockets[1];
    assert.equal(second.url, "ws://h:1/a%40b/terrarium/observe/echo?since=2&epoch=e1");
    // A restarted server: another epoch, its history from the start.
    second.frame({ type: "hello", seq: 3, epoch: "e2", reset: true, agent_id: "echo", snapshot: {} });
    second.frame({ seq: 1, type: "state", agent_id: "echo", data: {} });
    second.frame({ seq: 2, type: "result", agent_id: "echo", data: {} });
    second.frame({ seq: 3, type: "result", agent_id: "echo", data: {} });
    assert.deepEqual(
      frames.map((f) => `${f.type} ${f.seq}${f.reset ? " reset" : ""}`),
      ["hello 0", "result 1", "result 2", "hello 3 reset", "state 1", "result 2", "result 3"],
    );
    assert.equal(stream.since, 3);
  });

  test("says 'extension missing' when the page has no marker", () => {
    const w = world();
    const { stream } = observe(w, { config: { baseUrl: "/" } });
    assert.equal(stream.status, Status.EXTENSION_MISSING);
    assert.equal(w.sockets.length, 0);
  });

  test("says 'unknown agent' on a 404 handshake and keeps probing", async () => {
    const w = world({ "/a%40b/terrarium/api/agents/echo": [404, { error: "unknown_agent", message: "no agent 'echo'" }] });
    const { stream } = observe(w);
    w.sockets[0].drop(1006);
    await settle();
    await settle();
    assert.equal(stream.status, Status.UNKNOWN_AGENT);
    assert.equal(w.requests[0].init.headers["X-XSRFToken"], "x1");
    assert.equal(w.requests[0].init.credentials, "same-origin");
    assert.equal(w.timers.at(-1).ms, 10000);
  });

  test("says 'extension missing' when even the health route is absent", async () => {
    const w = world();
    const { stream } = observe(w);
    w.sockets[0].drop(1006);
    await settle();
    await settle();
    assert.equal(stream.status, Status.EXTENSION_MISSING);
    assert.deepEqual(
      w.requests.map((r) => r.url),
      ["/a%40b/terrarium/api/agents/echo", "/a%40b/terrarium/api/health"],
    );
  });

  test("says 'access denied' on 403", async () => {
    const w = world({ "/a%40b/terrarium/api/agents/echo": [403, { error: "forbidden", message: "observing needs a Jupyter login" }] });
    const { stream } = observe(w);
    w.sockets[0].drop(1006);
    await settle();
    assert.equal(stream.status, Status.ACCESS_DENIED);
    assert.equal(stream.detail, "observing needs a Jupyter login");
    assert.equal(w.timers.length, 0);
  });

  test("4004 means the agent was removed", async () => {
    const w = world();
    const { stream } = observe(w);
    w.sockets[0].frame({ type: "hello", seq: 0, agent_id: "echo", snapshot: {} });
    w.sockets[0].drop(4004);
    await settle();
    assert.equal(stream.status, Status.UNKNOWN_AGENT);
    assert.equal(stream.detail, "the agent was removed");
  });

  test("close() stops everything", () => {
    const w = world();
    const { stream } = observe(w);
    stream.close();
    w.sockets[0].drop(1006);
    assert.equal(stream.status, Status.CLOSED);
    assert.equal(w.timers.length, 0);
  });
});

function fakeModel() {
  const handlers = new Set();
  return {
    sent: [],
    send(message) {
      this.sent.push(message);
    },
    on(name, fn) {
      if (name === "msg:custom") handlers.add(fn);
    },
    off(name, fn) {
      handlers.delete(fn);
    },
    emit(message) {
      for (const fn of handlers) fn(message, []);
    },
    handlers,
  };
}

describe("CommStream", () => {
  test("subscribes, then passes frames like the observe socket", () => {
    const w = world();
    const model = fakeModel();
    const frames = [];
    const stream = new CommStream({ model, agentId: "echo", env: w.env, onFrame: (f) => frames.push(f) }).start();
    assert.deepEqual(model.sent, [{ type: "subscribe", since: null, epoch: null }]);
    assert.equal(stream.status, Status.WAITING);
    model.emit({ type: "frame", frame: { type: "hello", seq: 1, agent_id: "echo", snapshot: {} } });
    model.emit({ type: "frame", frame: { seq: 1, type: "result", agent_id: "echo", data: {} } });
    model.emit({ type: "frame", frame: { seq: 1, type: "result", agent_id: "echo", data: {} } });
    model.emit({ type: "frame", frame: { seq: 2, type: "result", agent_id: "other", data: {} } });
    assert.equal(stream.status, Status.LIVE);
    assert.deepEqual(frames.map((f) => f.type), ["hello", "result"]);
    assert.equal(stream.since, 1);
  });

  test("with no agent id it tracks every agent on its own", () => {
    const w = world();
    const model = fakeModel();
    const frames = [];
    new CommStream({ model, env: w.env, onFrame: (f) => frames.push(`${f.agent_id}:${f.seq}`) }).start();
    model.emit({ type: "frame", frame: { seq: 1, type: "result", agent_id: "a", data: {} } });
    model.emit({ type: "frame", frame: { seq: 1, type: "result", agent_id: "b", data: {} } });
    model.emit({ type: "frame", frame: { seq: 1, type: "result", agent_id: "a", data: {} } });
    assert.deepEqual(frames, ["a:1", "b:1"]);
  });

  test("when the kernel stays silent, says why", async () => {
    const w = world();
    const model = fakeModel();
    const stream = new CommStream({ model, agentId: "echo", env: w.env }).start();
    await w.runTimers();
    assert.equal(stream.status, Status.EXTENSION_MISSING);
  });

  test("perturb replies are matched by id; a semaphore keeps the request open", async () => {
    const w = world();
    const model = fakeModel();
    const stream = new CommStream({ model, agentId: "echo", env: w.env }).start();
    const seen = [];
    const done = stream.request({ type: "perturb", data: { records: 47 }, priority: 100 }, (r) => seen.push(r.type));
    const sent = model.sent.at(-1);
    assert.equal(sent.type, "perturb");
    assert.equal(sent.priority, 100);
    model.emit({ type: "reply", reply: { type: "semaphore", id: sent.id, token: { id: "t1" } } });
    model.emit({ type: "reply", reply: { type: "result", id: sent.id, output: 1 } });
    assert.deepEqual(await done, { type: "result", id: sent.id, output: 1 });
    assert.deepEqual(seen, ["semaphore", "result"]);
  });

  test("resolve replies without an id go to the oldest resolve", async () => {
    const w = world();
    const model = fakeModel();
    const stream = new CommStream({ model, agentId: null, env: w.env }).start();
    const done = stream.request({ type: "resolve", agent_id: "a", token_id: "t", human_input: "Approve" });
    assert.deepEqual(
      { ...model.sent.at(-1), id: undefined },
      { type: "resolve", agent_id: "a", token_id: "t", human_input: "Approve", id: undefined },
    );
    model.emit({ type: "reply", reply: { token: { id: "t", status: "resolved" } } });
    assert.deepEqual(await done, { token: { id: "t", status: "resolved" } });
  });

  test("error messages from the kernel become states; close() unhooks", () => {
    const w = world();
    const model = fakeModel();
    const stream = new CommStream({ model, agentId: "ghost", env: w.env }).start();
    model.emit({ type: "error", code: "unknown_agent", message: "no agent 'ghost'" });
    assert.equal(stream.status, Status.UNKNOWN_AGENT);
    stream.close();
    assert.equal(model.handlers.size, 0);
    assert.equal(statusOfError("forbidden"), Status.ACCESS_DENIED);
    assert.equal(statusOfError("whatever"), null);
  });
});

describe("transport choice", () => {
  test("auto follows the page's marker; traits can force either", () => {
    assert.equal(chooseTransport("auto", marker), "server");
    assert.equal(chooseTransport("auto", { baseUrl: "/" }), "comm");
    assert.equal(chooseTransport("auto", null), "comm");
    assert.equal(chooseTransport("comm", marker), "comm");
    assert.equal(chooseTransport("server", null), "server");
    assert.equal(chooseTransport("comm", null, false), "server");
  });
});

describe("AgentHub", () => {
  test("folds the kernel's frames into its store, tells its listeners, and settles a resolved token", async () => {
    const w = world();
    const model = fakeModel();
    const hub = new AgentHub({ agentId: "approver", transport: "comm", model, config: null, env: w.env });
    const heard = [];
    hub.on("agents", () => heard.push("agents"));
    hub.on("frame", (id, frame) => heard.push(`frame ${id} ${frame.type}`));
    hub.on("update", (id) => heard.push(`update ${id}`));
    hub.on("status", ({ status }) => heard.push(`status ${status}`));
    hub.start();
    assert.deepEqual(hub.ids(), ["approver"]);
    const token = { id: "t1", prompt: "Delete?", created_at: "2024-01-01T00:00:00Z" };
    model.emit({ type: "frame", frame: { type: "hello", seq: 1, agent_id: "approver", snapshot: { pending: [token] } } });
    model.emit({ type: "frame", frame: { seq: 2, type: "result", agent_id: "other", data: {} } });
    assert.deepEqual(heard, [
      "agents",
      "status waiting",
      "update approver",
      "status live",
      "update approver",
      "frame approver hello",
      "update approver",
    ]);
    assert.deepEqual(hub.pending().map((p) => p.token.id), ["t1"]);
    assert.equal(hub.record("approver").connection.status, Status.LIVE);

    const done = hub.resolve("approver", "t1", "yes");
    const sent = model.sent.at(-1);
    assert.deepEqual({ ...sent, id: undefined }, { type: "resolve", agent_id: "approver", token_id: "t1", human_input: "yes", id: undefined });
    model.emit({ type: "reply", id: sent.id, reply: { type: "resolved", token: { ...token, status: "resuming" } } });
    assert.equal((await done).ok, true);
    assert.deepEqual(hub.pending(), []);
    assert.equal(heard.at(-1), "update approver");
    hub.close();
    assert.equal(model.handlers.size, 0);
  });
});
