// How the browser reaches a Terrarium server: page config, URLs, XSRF, backoff,
// sequence tracking, and the observe stream (PROTOCOL.md sections 2 and 4).
//
// Everything here except ObserveStream is pure; ObserveStream takes its
// WebSocket, fetch, timers and location from an `env` object so that it can be
// driven without a browser.

export const PROTOCOL = 1;
export const OBSERVE_PATH = "terrarium/observe/";
export const PERTURB_PATH = "terrarium/perturb/";
export const API_PATH = "terrarium/api/";

/** Connection states, as the widgets show them. */
export const Status = Object.freeze({
  CONNECTING: "connecting",
  WAITING: "waiting",
  LIVE: "live",
  RECONNECTING: "reconnecting",
  EXTENSION_MISSING: "extension missing",
  UNKNOWN_AGENT: "unknown agent",
  ACCESS_DENIED: "access denied",
  CLOSED: "closed",
});

/** States after which a stream stops on its own (an unknown agent is re-probed). */
export const FINAL_STATES = new Set([Status.EXTENSION_MISSING, Status.ACCESS_DENIED, Status.CLOSED]);

// -- page config -----------------------------------------------------------------

const CONFIG_IDS = ["jupyter-config-data", "terrarium-config"];

/** Parse the JSON text of a page-config script element; null when it is not an object. */
export function parsePageConfig(text) {
  if (typeof text !== "string" || !text.trim()) return null;
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * The page config of the Jupyter page we run in (`<script id="jupyter-config-data">`),
 * or of the Terrarium dashboard page; null outside Jupyter (VS Code, Colab, marimo).
 */
export function readPageConfig(doc = globalThis.document) {
  if (!doc || typeof doc.getElementById !== "function") return null;
  for (const id of CONFIG_IDS) {
    const element = doc.getElementById(id);
    if (element) {
      const config = parsePageConfig(element.textContent);
      if (config) return config;
    }
  }
  return null;
}

/** The marker `{"version", "protocol"}` the extension injects, or null when absent. */
export function extensionMarker(config) {
  const marker = config && typeof config === "object" ? config.terrarium : null;
  if (!marker || typeof marker !== "object" || Array.isArray(marker)) return null;
  if (typeof marker.protocol !== "number") return null;
  return marker;
}

/** True when the page config says the Terrarium extension serves this page. */
export function hasExtension(config) {
  const marker = extensionMarker(config);
  return marker !== null && marker.protocol === PROTOCOL;
}

// -- URLs --------------------------------------------------------------------------

/**
 * The server's base URL as a path that starts and ends with "/". It is kept
 * as given (it is already URL-encoded, e.g. "/a%40b/"); only our own path
 * segments are encoded. An absolute base ("https://host/base/") keeps its origin.
 */
export function normalizeBaseUrl(baseUrl) {
  let base = typeof baseUrl === "string" && baseUrl.trim() ? baseUrl.trim() : "/";
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(base) && !base.startsWith("/")) base = `/${base}`;
  if (!base.endsWith("/")) base = `${base}/`;
  return base;
}

/** One path segment (an agent id, a token id), encoded. */
export function encodeSegment(segment) {
  return encodeURIComponent(String(segment));
}

/** "?a=1&b=2" from an object, skipping null and undefined; "" when nothing is left. */
export function queryString(query = {}) {
  const parts = [];
  for (const [key, value] of Object.entries(query)) {
    if (value === null || value === undefined) continue;
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

/** `{base}terrarium/api/<segments>?<query>`, same-origin (a path) unless the base is absolute. */
export function apiUrl(baseUrl, segments = [], query = {}) {
  const path = segments.map(encodeSegment).join("/");
  return `${normalizeBaseUrl(baseUrl)}${API_PATH}${path}${queryString(query)}`;
}

/** A ws:// or wss:// URL for a path under the base, on the page's own host. */
export function websocketUrl(baseUrl, path, location = globalThis.location) {
  const base = normalizeBaseUrl(baseUrl);
  const absolute = /^([a-z][a-z0-9+.-]*):\/\/([^/]+)(\/.*)$/i.exec(base);
  if (absolute) {
    const scheme = absolute[1].toLowerCase() === "https" ? "wss" : "ws";
    return `${scheme}://${absolute[2]}${absolute[3]}${path}`;
  }
  const secure = location && location.protocol === "https:";
  const host = (location && location.host) || "localhost";
  return `${secure ? "wss" : "ws"}://${host}${base}${path}`;
}

/**
 * The Reflection: `{base}terrarium/observe/{agent}?since=N&epoch=E` (no `since` on the
 * first connect; `epoch` names the numbering `since` belongs to, once a hello told it).
 */
export function observeUrl(baseUrl, agentId, since = null, location = globalThis.location, epoch = null) {
  const params = {};
  if (Number.isInteger(since) && since >= 0) {
    params.since = since;
    if (typeof epoch === "string" && epoch) params.epoch = epoch;
  }
  const query = Object.keys(params).length ? queryString(params) : "";
  return websocketUrl(baseUrl, `${OBSERVE_PATH}${encodeSegment(agentId)}${query}`, location);
}

/** The Beam: `{base}terrarium/perturb/{agent}`. */
export function perturbUrl(baseUrl, agentId, location = globalThis.location) {
  return websocketUrl(baseUrl, `${PERTURB_PATH}${encodeSegment(agentId)}`, location);
}

// -- backoff -----------------------------------------------------------------------

export const BACKOFF = Object.freeze({ initial: 500, max: 30000, factor: 2, jitter: 0.5 });

/**
 * Delay in ms before reconnect attempt `attempt` (0 = first retry): exponential
 * up to `max`, with the top `jitter` fraction randomised so that many widgets
 * reconnecting after a server restart do not arrive at once. The result lies
 * in [cap * (1 - jitter), cap] with cap = min(max, initial * factor ** attempt).
 */
export function backoffDelay(attempt, options = {}) {
  const { initial, max, factor, jitter } = { ...BACKOFF, ...options };
  const random = options.random ?? Math.random;
  const step = Math.max(0, Math.floor(Number(attempt) || 0));
  const cap = Math.min(max, initial * factor ** Math.min(step, 64));
  const spread = Math.min(1, Math.max(0, jitter));
  const r = Math.min(1, Math.max(0, random()));
  return cap * (1 - spread) + cap * spread * r;
}

// -- cookies and REST ----------------------------------------------------------------

/** The cookies of a `document.cookie` string, as a Map of name to decoded value. */
export function parseCookies(cookieString) {
  const cookies = new Map();
  if (typeof cookieString !== "string") return cookies;
  for (const part of cookieString.split(";")) {
    const index = part.indexOf("=");
    if (index < 0) continue;
    const name = part.slice(0, index).trim();
    let value = part.slice(index + 1).trim();
    if (!name || cookies.has(name)) continue;
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      // not percent-encoded: keep it as it is
    }
    cookies.set(name, value);
  }
  return cookies;
}

/** One cookie's value, or null. */
export function readCookie(cookieString, name) {
  const value = parseCookies(cookieString).get(name);
  return value === undefined ? null : value;
}

/** Jupyter's `_xsrf` cookie, sent back as `X-XSRFToken` (never kept in widget state). */
export function xsrfToken(doc = globalThis.document) {
  let cookie = "";
  try {
    cookie = doc ? doc.cookie : "";
  } catch {
    cookie = ""; // sandboxed frames may refuse cookie access
  }
  return readCookie(cookie, "_xsrf");
}

/** Headers for a REST call: JSON, and the XSRF token when the page has one. */
export function restHeaders(doc = globalThis.document, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  const token = xsrfToken(doc);
  if (token) headers["X-XSRFToken"] = token;
  return headers;
}

/**
 * A REST call, same-origin with cookies and `X-XSRFToken`. Never throws for an
 * HTTP error: returns `{ok, status, body}` (`status` 0 when the network failed),
 * with `body` the parsed JSON or null.
 */
export async function apiFetch(url, { method = "GET", body, env = {} } = {}) {
  const fetchImpl = env.fetch ?? globalThis.fetch;
  const headers = restHeaders(env.document ?? globalThis.document);
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetchImpl(url, init);
  } catch (error) {
    return { ok: false, status: 0, body: null, message: String(error && error.message ? error.message : error) };
  }
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = null;
  }
  return {
    ok: response.ok,
    status: response.status,
    body: parsed,
    message: parsed && typeof parsed.message === "string" ? parsed.message : response.statusText || "",
  };
}

/** What an HTTP answer about an agent means for a stream. */
export function classifyResponse(status, body) {
  if (status === 403 || status === 401) return Status.ACCESS_DENIED;
  if (status === 404) {
    return body && body.error === "unknown_agent" ? Status.UNKNOWN_AGENT : Status.EXTENSION_MISSING;
  }
  if (status >= 200 && status < 300) return Status.LIVE;
  return Status.RECONNECTING;
}

/**
 * Why an observe handshake failed, asked over REST (a browser WebSocket never
 * shows the HTTP status): the agent route, then the health route.
 */
export async function diagnose(baseUrl, agentId, env = {}) {
  const agent = await apiFetch(apiUrl(baseUrl, ["agents", agentId]), { env });
  if (agent.status === 0) return { status: Status.RECONNECTING, detail: agent.message };
  let status = classifyResponse(agent.status, agent.body);
  if (status === Status.EXTENSION_MISSING) {
    const health = await apiFetch(apiUrl(baseUrl, ["health"]), { env });
    if (health.ok) status = Status.UNKNOWN_AGENT;
    else if (health.status === 403 || health.status === 401) status = Status.ACCESS_DENIED;
    else if (health.status !== 404) status = Status.RECONNECTING;
  }
  return { status, detail: agent.message, agent: agent.ok ? agent.body : null };
}

// -- sequence tracking ------------------------------------------------------------------

/**
 * Follows one agent's seqs across frames and reconnects (PROTOCOL.md section 2).
 *
 * `since` is the resume point for `?since=` (null before the first event, so
 * the first connect gets all kept history), and `epoch` the numbering it
 * belongs to. Events at or below it are duplicates; a jump past it is a gap,
 * reported even without a `gap` frame.
 */
export class SeqTracker {
  constructor() {
    this.last = null;
    this.epoch = null;
    this.received = 0;
    this.duplicates = 0;
    this.missed = 0;
  }

  get since() {
    return this.last;
  }

  /**
   * A `hello` frame. The server says `reset: true` when the seq we resumed from
   * belongs to another epoch (the agent's stream started over: a restarted
   * server, a new agent under the same id); then the kept history of the new
   * numbering follows from its start, and we follow it. A server without
   * epochs is judged by its seq: newest below what we have seen.
   */
  hello(frame) {
    const seq = frame && Number.isInteger(frame.seq) ? frame.seq : null;
    const epoch = frame && typeof frame.epoch === "string" ? frame.epoch : null;
    const restarted = frame.reset === true || (epoch !== null && this.epoch !== null && epoch !== this.epoch);
    const below = epoch === null && seq !== null && this.last !== null && seq < this.last;
    if (epoch !== null) this.epoch = epoch;
    // The new numbering's history follows from its start; without epochs, only what is newer.
    if (restarted) this.last = null;
    else if (below) this.last = seq;
    return { reset: restarted || below };
  }

  /** A `gap` frame: those seqs will not come; move the resume point past them. */
  gap(frame) {
    const from = Number(frame && frame.from);
    const to = Number(frame && frame.to);
    if (!Number.isInteger(from) || !Number.isInteger(to) || to < from) return null;
    const start = this.last === null ? from : Math.max(from, this.last + 1);
    if (to >= start) this.missed += to - start + 1;
    if (this.last === null || to > this.last) this.last = to;
    return { from, to };
  }

  /**
   * An event frame. Returns `{fresh: false}` for a duplicate, else
   * `{fresh: true, gap: {from, to} | null}` where `gap` is a silent jump.
   */
  accept(frame) {
    const seq = frame ? frame.seq : undefined;
    if (!Number.isInteger(seq)) return { fresh: true, gap: null };
    if (this.last !== null && seq <= this.last) {
      this.duplicates += 1;
      return { fresh: false, gap: null };
    }
    let gap = null;
    if (this.last !== null && seq > this.last + 1) {
      gap = { from: this.last + 1, to: seq - 1 };
      this.missed += seq - 1 - this.last;
    }
    this.last = seq;
    this.received += 1;
    return { fresh: true, gap };
  }
}

// -- the observe stream -----------------------------------------------------------------

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
