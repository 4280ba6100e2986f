// The kernel-comm transport: the same frames as the observe socket, carried by
// anywidget custom messages, for front ends without a reachable Terrarium
// server extension (VS Code, Colab, marimo, nbval).
//
// Kernel -> widget:
//   {"type": "frame", "frame": FRAME}          a frame as the observe socket sends it
//   {"type": "reply", "id"?: CID, "reply": R}  the answer to a perturb/resolve/cancel
//   {"type": "agents", "agents": [STATUS]}     optional: which agents exist (Terrarium())
//   {"type": "error", "code": C, "message": M} optional: e.g. "unknown_agent", "forbidden"
// Widget -> kernel:
//   {"type": "subscribe", "since": N | null, "epoch": E | null}
//   {"type": "perturb", "id": CID, "agent_id", "data": any, "priority": int}
//   {"type": "resolve", "id": CID, "agent_id", "token_id", "human_input": any}
//   {"type": "cancel", "id": CID, "agent_id", "token_id"}

import { SeqTracker } from "./seq.js";
import { Status } from "./status.js";

export const NO_DATA_MS = 5000;
const REQUEST_TIMEOUT_MS = 120000;
const FINAL_REPLIES = new Set(["result", "error"]);

/** Map an error code from the kernel to a stream status. */
export function statusOfError(code) {
  if (code === "unknown_agent" || code === "not_found") return Status.UNKNOWN_AGENT;
  if (code === "forbidden" || code === "unauthorized") return Status.ACCESS_DENIED;
  return null;
}

/**
 * Same interface as ObserveStream (`start`, `close`, `status`, `since`,
 * `onFrame`, `onStatus`), fed by `msg:custom` messages of an anywidget model.
 * With `agentId` null it passes the frames of every agent (each tracked by its
 * own seqs), for the grid and the all-agents Purgatory panel.
 */
export class CommStream {
  constructor({
    model,
    agentId = null,
    onFrame = () => {},
    onStatus = () => {},
    onAgents = () => {},
    silentStatus = Status.EXTENSION_MISSING,
    silentDetail = "no Terrarium server extension here, and the kernel sent no data",
    noDataMs = NO_DATA_MS,
    subscribe = true,
    env = {},
  }) {
    this.model = model;
    this.agentId = agentId;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.onAgents = onAgents;
    this.silentStatus = silentStatus;
    this.silentDetail = silentDetail;
    this.noDataMs = noDataMs;
    this.subscribe = subscribe;
    this.env = env;
    this.trackers = new Map();
    this.requests = new Map();
    this.nextId = 1;
    this.status = null;
    this.detail = "";
    this.timer = null;
    this.closed = false;
    this.heard = false;
    this._handler = (message) => this._receive(message);
  }

  get since() {
    if (this.agentId === null) return null;
    const tracker = this.trackers.get(this.agentId);
    return tracker ? tracker.since : null;
  }

  /** The numbering `since` belongs to, once a hello told it. */
  get epoch() {
    if (this.agentId === null) return null;
    const tracker = this.trackers.get(this.agentId);
    return tracker ? tracker.epoch : null;
  }

  start() {
    this.model.on("msg:custom", this._handler);
    if (!this.subscribe) {
      // Only requests (the perturb console): nothing to wait for.
      this._setStatus(Status.LIVE, "through the kernel");
      return this;
    }
    this._setStatus(Status.WAITING, "waiting for the kernel");
    this._send({ type: "subscribe", since: this.since, epoch: this.epoch });
    const set = this.env.setTimeout ?? globalThis.setTimeout;
    this.timer = set(() => {
      this.timer = null;
      if (!this.heard && !this.closed) this._setStatus(this.silentStatus, this.silentDetail);
    }, this.noDataMs);
    return this;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    try {
      this.model.off("msg:custom", this._handler);
    } catch {
      // the model is already gone
    }
    if (this.timer !== null) (this.env.clearTimeout ?? globalThis.clearTimeout)(this.timer);
    for (const request of this.requests.values()) {
      request.settle({ type: "error", id: request.id, code: "closed", message: "the widget was closed" });
    }
    this.requests.clear();
    this._setStatus(Status.CLOSED, "");
  }

  /**
   * Send a perturb/resolve/cancel message; `onReply` gets every reply for it.
   * Resolves with the last reply (a perturbation that ejected a semaphore
   * stays open until its `result` or `error` arrives).
   */
  request(message, onReply = () => {}) {
    const id = message.id ?? `c${this.nextId++}`;
    const multi = message.type === "perturb";
    return new Promise((resolve) => {
      const set = this.env.setTimeout ?? globalThis.setTimeout;
      const clear = this.env.clearTimeout ?? globalThis.clearTimeout;
      const request = {
        id,
        type: message.type,
        multi,
        settle: (reply) => {
          clear(request.timer);
          this.requests.delete(id);
          onReply(reply);
          resolve(reply);
        },
        progress: (reply) => onReply(reply),
        timer: set(() => {
          if (this.requests.has(id)) {
            request.settle({ type: "error", id, code: "timeout", message: "no answer from the kernel" });
          }
        }, REQUEST_TIMEOUT_MS),
      };
      this.requests.set(id, request);
      if (!this._send({ ...message, id })) {
        request.settle({ type: "error", id, code: "closed", message: "the kernel connection is closed" });
      }
    });
  }

  _send(message) {
    if (this.closed) return false;
    try {
      this.model.send(message);
      return true;
    } catch {
      return false;
    }
  }

  _setStatus(status, detail = "") {
    if (status === this.status && detail === this.detail) return;
    this.status = status;
    this.detail = detail;
    this.onStatus(status, detail);
  }

  _heard() {
    this.heard = true;
    if (this.status !== Status.LIVE) this._setStatus(Status.LIVE, "through the kernel");
  }

  _tracker(agentId) {
    const key = agentId ?? "";
    let tracker = this.trackers.get(key);
    if (!tracker) {
      tracker = new SeqTracker();
      this.trackers.set(key, tracker);
    }
    return tracker;
  }

  _receive(message) {
    if (this.closed || !message || typeof message !== "object") return;
    switch (message.type) {
      case "frame":
        this._frame(message.frame);
        break;
      case "reply":
        this._reply(message);
        break;
      case "agents":
        if (Array.isArray(message.agents)) {
          this._heard();
          this.onAgents(message.agents);
        }
        break;
      case "error": {
        const status = statusOfError(message.code);
        if (status) this._setStatus(status, message.message || "");
        break;
      }
      default:
        break; // unknown messages are ignored, like unknown frame types
    }
  }

  _frame(frame) {
    if (!frame || typeof frame !== "object") return;
    const agentId = frame.agent_id ?? this.agentId;
    if (this.agentId !== null && agentId !== this.agentId) return;
    this._heard();
    const tracker = this._tracker(agentId);
    if (frame.type === "hello") {
      const { reset } = tracker.hello(frame);
      this.onFrame(reset ? { ...frame, reset: true } : frame);
      return;
    }
    if (frame.type === "pong") return;
    if (frame.type === "gap") {
      if (tracker.gap(frame)) this.onFrame({ ...frame, agent_id: agentId });
      return;
    }
    const { fresh, gap } = tracker.accept(frame);
    if (!fresh) return;
    if (gap) this.onFrame({ type: "gap", from: gap.from, to: gap.to, agent_id: agentId, implicit: true });
    this.onFrame(frame);
  }

  _reply(message) {
    const reply = message.reply && typeof message.reply === "object" ? message.reply : {};
    let id = message.id ?? reply.id;
    if (id === undefined || id === null || !this.requests.has(id)) {
      // No id to match on: the oldest open request of a kind that fits.
      const perturbLike = "type" in reply && ("perturbation_id" in reply || "code" in reply || "token" in reply);
      id = undefined;
      for (const request of this.requests.values()) {
        if ((request.type === "perturb") === perturbLike) {
          id = request.id;
          break;
        }
      }
      if (id === undefined) return;
    }
    const request = this.requests.get(id);
    if (request.multi && !FINAL_REPLIES.has(reply.type)) request.progress(reply);
    else request.settle(reply);
  }
}
