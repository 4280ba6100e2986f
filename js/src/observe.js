// The socket transport: a self-healing observe WebSocket for one agent
// (PROTOCOL.md sections 2 and 4). It reconnects with backoff and `?since=`,
// and asks REST why when a handshake fails. Its WebSocket, fetch, timers and
// location come from an `env` object, so it can be driven without a browser.

import { backoffDelay } from "./backoff.js";
import { hasExtension } from "./page_config.js";
import { diagnose } from "./rest.js";
import { SeqTracker } from "./seq.js";
import { Status } from "./status.js";
import { normalizeBaseUrl, observeUrl } from "./urls.js";

const PING_MS = 30000;
const PROBE_MS = 10000;
const CLOSE_AGENT_REMOVED = 4004;

/**
 * A self-healing observe socket for one agent.
 *
 * Calls `onFrame(frame)` for `hello`, `gap` (also for silent seq jumps) and
 * every new event, in seq order and without duplicates, and
 * `onStatus(status, detail)` on every state change. Reconnects with jittered
 * backoff and `?since=`; when the agent is unknown it keeps probing slowly, so
 * an agent that is published later still shows up.
 */
export class ObserveStream {
  constructor({ baseUrl, agentId, config = undefined, onFrame = () => {}, onStatus = () => {}, env = {} }) {
    this.baseUrl = normalizeBaseUrl(baseUrl ?? (config && config.baseUrl));
    this.agentId = agentId;
    this.config = config;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.env = env;
    this.tracker = new SeqTracker();
    this.status = null;
    this.detail = "";
    this.attempt = 0;
    this.socket = null;
    this.timer = null;
    this.pinger = null;
    this.closed = false;
    this.helloSeen = false;
  }

  get since() {
    return this.tracker.since;
  }

  start() {
    if (this.config !== undefined && !hasExtension(this.config)) {
      this._setStatus(Status.EXTENSION_MISSING, "this page has no Terrarium server extension");
      return this;
    }
    this._connect();
    return this;
  }

  close() {
    this.closed = true;
    this._clearTimers();
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      try {
        socket.close(1000);
      } catch {
        // already closed
      }
    }
    this._setStatus(Status.CLOSED, "");
  }

  _setStatus(status, detail = "") {
    if (status === this.status && detail === this.detail) return;
    this.status = status;
    this.detail = detail;
    this.onStatus(status, detail);
  }

  _clearTimers() {
    const clear = this.env.clearTimeout ?? globalThis.clearTimeout;
    if (this.timer !== null) clear(this.timer);
    if (this.pinger !== null) (this.env.clearInterval ?? globalThis.clearInterval)(this.pinger);
    this.timer = null;
    this.pinger = null;
  }

  _later(ms, fn) {
    const set = this.env.setTimeout ?? globalThis.setTimeout;
    const clear = this.env.clearTimeout ?? globalThis.clearTimeout;
    if (this.timer !== null) clear(this.timer);
    this.timer = set(() => {
      this.timer = null;
      if (!this.closed) fn();
    }, ms);
  }

  _connect() {
    if (this.closed) return;
    const WebSocketImpl = this.env.WebSocket ?? globalThis.WebSocket;
    const location = this.env.location ?? globalThis.location;
    const url = observeUrl(this.baseUrl, this.agentId, this.tracker.since, location, this.tracker.epoch);
    if (this.status !== Status.RECONNECTING) this._setStatus(Status.CONNECTING, "");
    this.helloSeen = false;
    let socket;
    try {
      socket = new WebSocketImpl(url);
    } catch (error) {
      this._retry(String(error && error.message ? error.message : error));
      return;
    }
    this.socket = socket;
    socket.onmessage = (message) => this._receive(message.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this._clearTimers();
      this._closed(event || {});
    };
    socket.onerror = () => {}; // a close event follows
    socket.onopen = () => {
      const every = this.env.setInterval ?? globalThis.setInterval;
      this.pinger = every(() => {
        try {
          socket.send(JSON.stringify({ type: "ping" }));
        } catch {
          // the close handler deals with it
        }
      }, PING_MS);
    };
  }

  _receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "hello") {
      this.helloSeen = true;
      this.attempt = 0;
      const { reset } = this.tracker.hello(frame);
      this._setStatus(Status.LIVE, "");
      this.onFrame(reset ? { ...frame, reset: true } : frame);
      return;
    }
    if (frame.type === "pong") return;
    if (frame.type === "gap") {
      if (this.tracker.gap(frame)) this.onFrame(frame);
      return;
    }
    const { fresh, gap } = this.tracker.accept(frame);
    if (!fresh) return;
    if (gap) this.onFrame({ type: "gap", from: gap.from, to: gap.to, agent_id: frame.agent_id, implicit: true });
    this.onFrame(frame);
  }

  async _closed(event) {
    if (this.closed) return;
    if (event.code === CLOSE_AGENT_REMOVED) {
      this._setStatus(Status.UNKNOWN_AGENT, "the agent was removed");
      this._later(PROBE_MS, () => this._probe());
      return;
    }
    if (!this.helloSeen) {
      await this._probe(true);
      return;
    }
    this._retry(event.reason || `closed (${event.code ?? "?"})`);
  }

  /** Ask REST why we cannot attach, then act on the answer. */
  async _probe(afterFailure = false) {
    if (this.closed) return;
    const { status, detail } = await diagnose(this.baseUrl, this.agentId, this.env);
    if (this.closed) return;
    if (status === Status.LIVE) {
      if (afterFailure) this._retry("handshake failed");
      else this._connect();
    } else if (status === Status.UNKNOWN_AGENT) {
      this._setStatus(status, detail || `no agent named ${JSON.stringify(this.agentId)}`);
      this._later(PROBE_MS, () => this._probe());
    } else if (status === Status.RECONNECTING) {
      this._retry(detail || "server unreachable");
    } else {
      this._setStatus(status, detail);
    }
  }

  _retry(detail) {
    const delay = backoffDelay(this.attempt, { random: this.env.random });
    this.attempt += 1;
    this._setStatus(Status.RECONNECTING, `${detail}; retrying in ${(delay / 1000).toFixed(1)} s`);
    this._later(delay, () => this._connect());
  }
}
