// What the views hold on to: one hub per widget model (shared by all its
// views) or per page. It picks the transport (the server's observe sockets
// and REST, or the kernel comm), feeds what arrives into its AgentStore, tells
// its listeners, and routes the actions (perturb, resolve, cancel) the same
// way. The records live in store.js, the fan-out in emitter.js.

import { BeamClient } from "./beam.js";
import { CommStream } from "./comm.js";
import { Emitter } from "./emitter.js";
import { ObserveStream } from "./observe.js";
import { hasExtension, readPageConfig } from "./page_config.js";
import { apiFetch } from "./rest.js";
import { Status } from "./status.js";
import { AgentStore } from "./store.js";
import { apiUrl, normalizeBaseUrl } from "./urls.js";

export const TRANSPORTS = ["auto", "server", "comm"];
export const REFRESH_MS = 10000;

/**
 * "server" or "comm" for a `transport` trait and a page config: "auto" takes
 * the server when the page carries the extension's marker, else the kernel comm.
 */
export function chooseTransport(trait, config, hasModel = true) {
  if (!hasModel) return "server";
  if (trait === "comm") return "comm";
  if (trait === "server") return "server";
  return hasExtension(config) ? "server" : "comm";
}

export class AgentHub {
  /**
   * @param agentId one agent, or null for every agent
   * @param transport "auto" | "server" | "comm"
   * @param model the anywidget model (null on the dashboard page)
   * @param config the page config (read from the page when omitted); on the
   *   dashboard page the extension is known to be there
   * @param observe false for a hub that only acts (the perturb console)
   */
  constructor({
    agentId = null,
    transport = "auto",
    model = null,
    config,
    observe = true,
    assumeExtension = false,
    refreshMs = REFRESH_MS,
    env = {},
  } = {}) {
    this.agentId = agentId;
    this.transport = TRANSPORTS.includes(transport) ? transport : "auto";
    this.model = model;
    this.config = config === undefined ? readPageConfig(env.document ?? globalThis.document) : config;
    if (assumeExtension) {
      this.config = { ...(this.config || {}), terrarium: this.config?.terrarium ?? { protocol: 1 } };
    }
    this.baseUrl = normalizeBaseUrl(this.config && this.config.baseUrl);
    this.observe = observe;
    this.refreshMs = refreshMs;
    this.env = env;
    this.events = new Emitter();
    this.store = new AgentStore({ agentId, emit: (name, ...args) => this._emit(name, ...args) });
    this.streams = new Map();
    this.beams = new Map();
    this.comm = null;
    this.mode = null;
    this.status = { status: Status.CONNECTING, detail: "" };
    this.refreshTimer = null;
    this.refreshing = null;
    this.closed = false;
    this.commFallback = false;
  }

  // -- events ----------------------------------------------------------------------

  /** Listen to "agents" (), "update" (id), "frame" (id, frame, effect) or "status" (status). */
  on(name, fn) {
    return this.events.on(name, fn);
  }

  _emit(name, ...args) {
    this.events.emit(name, ...args);
  }

  _setStatus(status, detail = "") {
    if (this.status.status === status && this.status.detail === detail) return;
    this.status = { status, detail };
    this._emit("status", this.status);
  }

  // -- life cycle ----------------------------------------------------------------------

  start() {
    this.mode = chooseTransport(this.transport, this.config, this.model !== null);
    if (this.agentId !== null) this.store.ensure(this.agentId);
    if (this.mode === "comm") this._startComm();
    else this._startServer();
    return this;
  }

  close() {
    this.closed = true;
    const clear = this.env.clearInterval ?? globalThis.clearInterval;
    if (this.refreshTimer !== null) clear(this.refreshTimer);
    this.refreshTimer = null;
    for (const stream of this.streams.values()) stream.close();
    this.streams.clear();
    for (const beam of this.beams.values()) beam.close();
    this.beams.clear();
    if (this.comm) this.comm.close();
    this.comm = null;
    this.events.clear();
  }

  /** Agent ids in display order. */
  ids() {
    return this.store.ids();
  }

  record(id) {
    return this.store.record(id);
  }

  /** Pending semaphore tokens, oldest first, of one agent or of all. */
  pending(agentId = null) {
    return this.store.pending(agentId);
  }

  _remove(id) {
    const stream = this.streams.get(id);
    if (stream) stream.close();
    this.streams.delete(id);
    this.store.remove(id);
  }

  _frame(fallbackId, frame) {
    const folded = this.store.fold(fallbackId, frame);
    if (folded === null) return;
    const { id, effect } = folded;
    if (frame.type === "hello" && this.mode === "server" && !Array.isArray(frame.snapshot?.pending)) {
      this._loadPending(id);
    }
    this._emit("frame", id, frame, effect);
    this._emit("update", id);
  }

  async _loadPending(id) {
    const reply = await apiFetch(apiUrl(this.baseUrl, ["purgatory", id, "pending"]), { env: this.env });
    if (!reply.ok || !Array.isArray(reply.body?.pending)) return;
    if (this.store.setPending(id, reply.body.pending)) this._emit("update", id);
  }

  // -- the server transport -------------------------------------------------------------

  _startServer() {
    if (this.config !== null && this.config !== undefined && !hasExtension(this.config)) {
      this._serverUnavailable(Status.EXTENSION_MISSING, "this page has no Terrarium server extension");
      return;
    }
    if (this.config === null) {
      this._serverUnavailable(Status.EXTENSION_MISSING, "this page is not served by Jupyter");
      return;
    }
    if (this.agentId !== null) {
      this._setStatus(Status.CONNECTING);
      if (this.observe) this._openStream(this.agentId);
      else this._setStatus(Status.LIVE);
      return;
    }
    this._refresh();
    const every = this.env.setInterval ?? globalThis.setInterval;
    this.refreshTimer = every(() => {
      const doc = this.env.document ?? globalThis.document;
      if (!doc || !doc.hidden) this._refresh();
    }, this.refreshMs);
  }

  /** The server cannot serve us: fall back to the kernel where allowed, else say why. */
  _serverUnavailable(status, detail) {
    if (this.transport === "auto" && this.model !== null && !this.commFallback) {
      this.commFallback = true;
      this._startComm(status, detail);
      if (this.comm && this.comm.status === Status.LIVE) return;
    }
    this._setStatus(status, detail);
  }

  _openStream(id) {
    if (this.streams.has(id) || this.closed) return;
    const stream = new ObserveStream({
      baseUrl: this.baseUrl,
      agentId: id,
      onFrame: (frame) => {
        if (this.mode === "server") this._frame(id, frame);
      },
      onStatus: (status, detail) => this._streamStatus(id, status, detail),
      env: this.env,
    });
    this.streams.set(id, stream);
    stream.start();
  }

  _streamStatus(id, status, detail) {
    if (this.store.setConnection(id, status, detail)) this._emit("update", id);
    if (this.agentId === null) {
      if (status === Status.UNKNOWN_AGENT) this._refresh();
      return;
    }
    if ((status === Status.UNKNOWN_AGENT || status === Status.EXTENSION_MISSING) && this.mode === "server") {
      this._serverUnavailable(status, detail);
      return;
    }
    if (this.mode === "server") this._setStatus(status, detail);
  }

  /** GET api/agents and follow it: new agents get a stream, gone ones leave. */
  _refresh() {
    if (this.refreshing || this.closed) return this.refreshing;
    this.refreshing = (async () => {
      const reply = await apiFetch(apiUrl(this.baseUrl, ["agents"]), { env: this.env });
      if (this.closed || this.mode !== "server") return;
      if (reply.status === 0) {
        this._setStatus(Status.RECONNECTING, "the server is not reachable");
        return;
      }
      if (reply.status === 403 || reply.status === 401) {
        this._setStatus(Status.ACCESS_DENIED, reply.message);
        return;
      }
      if (reply.status === 404) {
        this._serverUnavailable(Status.EXTENSION_MISSING, "the Terrarium server extension is not reachable");
        return;
      }
      if (!reply.ok || !Array.isArray(reply.body?.agents)) {
        this._setStatus(Status.RECONNECTING, reply.message || `HTTP ${reply.status}`);
        return;
      }
      this._setStatus(Status.LIVE);
      this._follow(reply.body.agents, true);
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  _follow(statuses, openStreams) {
    const seen = new Set();
    for (const status of statuses) {
      if (!status || typeof status.id !== "string") continue;
      seen.add(status.id);
      this.store.learn(status);
      if (openStreams && this.observe) this._openStream(status.id);
      this._emit("update", status.id);
    }
    for (const id of this.store.known()) if (!seen.has(id)) this._remove(id);
  }

  // -- the kernel-comm transport --------------------------------------------------------------

  _startComm(silentStatus = undefined, silentDetail = undefined) {
    if (this.comm || !this.model) return;
    // Chosen by the trait, a silent kernel is only waited for; chosen for want
    // of a server, it means there is nothing to show here at all.
    const forced = this.transport === "comm" && silentStatus === undefined;
    this.comm = new CommStream({
      model: this.model,
      agentId: this.agentId,
      silentStatus: silentStatus ?? (forced ? Status.WAITING : Status.EXTENSION_MISSING),
      silentDetail:
        silentDetail ??
        (forced
          ? "transport is 'comm' and the kernel has sent no data yet"
          : "no Terrarium server extension is reachable from this page, and the kernel has sent no data"),
      onFrame: (frame) => {
        if (this.mode === "comm") this._frame(this.agentId, frame);
      },
      onStatus: (status, detail) => this._commStatus(status, detail),
      subscribe: this.observe,
      onAgents: (agents) => {
        if (this.mode === "comm" && this.agentId === null) this._follow(agents, false);
      },
      env: this.env,
    });
    this.comm.start();
  }

  _commStatus(status, detail) {
    if (status === Status.LIVE && this.mode !== "comm") {
      // A fallback that found the agent in the kernel: drop the server side.
      this.mode = "comm";
      for (const stream of this.streams.values()) stream.close();
      this.streams.clear();
      const clear = this.env.clearInterval ?? globalThis.clearInterval;
      if (this.refreshTimer !== null) clear(this.refreshTimer);
      this.refreshTimer = null;
    }
    // While a fallback waits, the hub keeps showing why the server could not serve.
    if (this.mode !== "comm") return;
    this._setStatus(status, detail);
    for (const id of this.store.known()) {
      this.store.setConnection(id, status, detail);
      this._emit("update", id);
    }
  }

  // -- actions --------------------------------------------------------------------------------

  /**
   * Perturb an agent through the Beam (or the kernel). `onReply` sees every
   * reply frame; resolves with the final one.
   */
  async perturb(agentId, data, priority, onReply = () => {}) {
    if (this.mode === "comm" && this.comm) {
      return this.comm.request({ type: "perturb", agent_id: agentId, data, priority }, onReply);
    }
    let beam = this.beams.get(agentId);
    if (!beam) {
      beam = new BeamClient({ baseUrl: this.baseUrl, agentId, env: this.env });
      this.beams.set(agentId, beam);
    }
    if (this.config !== null && this.config !== undefined && !hasExtension(this.config)) {
      return this._perturbFallback(agentId, data, priority, onReply, {
        type: "error",
        id: null,
        code: "extension_missing",
        message: "the Terrarium server extension is not reachable from this page",
      });
    }
    let failed = null;
    const reply = await beam.send({ data, priority }, (frame) => {
      if (frame.type === "error" && ["unknown_agent", "extension_missing"].includes(frame.code) && this._canFallBack()) {
        failed = frame;
        return;
      }
      onReply(frame);
    });
    if (failed) return this._perturbFallback(agentId, data, priority, onReply, failed);
    return reply;
  }

  _canFallBack() {
    return this.transport === "auto" && this.model !== null;
  }

  async _perturbFallback(agentId, data, priority, onReply, failure) {
    if (!this._canFallBack()) {
      onReply(failure);
      return failure;
    }
    if (!this.comm) {
      this.commFallback = true;
      this._startComm(Status.EXTENSION_MISSING);
    }
    this.mode = "comm";
    return this.comm.request({ type: "perturb", agent_id: agentId, data, priority }, onReply);
  }

  /** Resolve a pending semaphore: `{ok, token?, code?, message?}`. */
  resolve(agentId, tokenId, humanInput) {
    return this._decide("resolve", agentId, tokenId, { human_input: humanInput });
  }

  /** Cancel a pending semaphore: `{ok, token?, code?, message?}`. */
  cancel(agentId, tokenId) {
    return this._decide("cancel", agentId, tokenId, undefined);
  }

  async _decide(action, agentId, tokenId, body) {
    let outcome;
    if (this.mode === "comm" && this.comm) {
      const message = { type: action, agent_id: agentId, token_id: tokenId };
      if (body) Object.assign(message, body);
      const reply = await this.comm.request(message);
      outcome =
        reply && reply.token && !reply.error
          ? { ok: true, token: reply.token }
          : {
              ok: false,
              code: reply?.error ?? reply?.code ?? "error",
              message: reply?.message ?? "",
              token: reply?.token,
            };
    } else {
      const url = apiUrl(this.baseUrl, ["purgatory", agentId, action, tokenId]);
      const reply = await apiFetch(url, { method: "POST", body: body ?? {}, env: this.env });
      outcome = reply.ok
        ? { ok: true, token: reply.body?.token }
        : {
            ok: false,
            status: reply.status,
            code: reply.body?.error ?? (reply.status === 0 ? "disconnected" : `http_${reply.status}`),
            message: reply.message || (reply.status === 403 ? "access denied" : ""),
            token: reply.body?.token,
          };
    }
    const settled = outcome.ok || outcome.code === "not_pending" || outcome.code === "unknown_token";
    if (settled && this.store.settle(agentId, tokenId)) this._emit("update", agentId);
    return outcome;
  }
}
