// The Beam from the browser: one lazily opened perturb socket per agent,
// several requests in flight, replies matched by the request's `id`
// (PROTOCOL.md section 3). Authentication is the page's own Jupyter login
// cookie: no token is ever read or kept here.

import { diagnose } from "./rest.js";
import { Status } from "./status.js";
import { normalizeBaseUrl, perturbUrl } from "./urls.js";

const FINAL = new Set(["result", "error"]);

/** Text for a Beam that could not be opened, from what REST says about the agent. */
export function beamFailure(status, agentId) {
  if (status === Status.UNKNOWN_AGENT) return { code: "unknown_agent", message: `no agent named ${JSON.stringify(agentId)}` };
  if (status === Status.EXTENSION_MISSING) return { code: "extension_missing", message: "the Terrarium server extension is not reachable" };
  if (status === Status.ACCESS_DENIED) return { code: "access_denied", message: "access denied: observing needs a Jupyter login" };
  if (status === Status.LIVE) {
    return {
      code: "access_denied",
      message: "the Beam refused the connection: perturbing needs a Jupyter login with 'execute' on terrarium",
    };
  }
  return { code: "disconnected", message: "the server is not reachable" };
}

export class BeamClient {
  constructor({ baseUrl, agentId, env = {} }) {
    this.baseUrl = normalizeBaseUrl(baseUrl);
    this.agentId = agentId;
    this.env = env;
    this.socket = null;
    this.opening = null;
    this.requests = new Map();
    this.nextId = 1;
    this.closed = false;
  }

  /**
   * Send `{"id", "data", "priority"}`; `onReply` sees every reply (a
   * `semaphore` first, when the agent asks a human, then its `result`).
   * Resolves with the final reply; connection failures become `error` replies
   * with codes `unknown_agent`, `access_denied`, `extension_missing` or `disconnected`.
   */
  async send({ data, priority }, onReply = () => {}) {
    const id = `b${Date.now().toString(36)}-${this.nextId++}`;
    const frame = { id, data };
    if (Number.isInteger(priority)) frame.priority = priority;
    let socket;
    try {
      socket = await this._open();
    } catch (failure) {
      const reply = { type: "error", id, ...failure };
      onReply(reply);
      return reply;
    }
    return new Promise((resolve) => {
      this.requests.set(id, { onReply, resolve });
      try {
        socket.send(JSON.stringify(frame));
      } catch {
        this._settle(id, { type: "error", id, code: "disconnected", message: "the Beam closed" });
      }
    });
  }

  close() {
    this.closed = true;
    if (this.socket) {
      try {
        this.socket.close(1000);
      } catch {
        // already closed
      }
    }
    this.socket = null;
    this._failAll("closed", "the console was closed");
  }

  _settle(id, reply) {
    const request = this.requests.get(id);
    if (!request) return;
    request.onReply(reply);
    if (FINAL.has(reply.type)) {
      this.requests.delete(id);
      request.resolve(reply);
    }
  }

  _failAll(code, message) {
    for (const id of [...this.requests.keys()]) this._settle(id, { type: "error", id, code, message });
  }

  _open() {
    const open = this.env.WebSocket?.OPEN ?? globalThis.WebSocket?.OPEN ?? 1;
    if (this.socket && this.socket.readyState === open) return Promise.resolve(this.socket);
    if (this.opening) return this.opening;
    if (this.closed) return Promise.reject({ code: "closed", message: "the console was closed" });
    const WebSocketImpl = this.env.WebSocket ?? globalThis.WebSocket;
    const url = perturbUrl(this.baseUrl, this.agentId, this.env.location ?? globalThis.location);
    this.opening = new Promise((resolve, reject) => {
      let socket;
      try {
        socket = new WebSocketImpl(url);
      } catch (error) {
        reject({ code: "disconnected", message: String(error) });
        return;
      }
      let opened = false;
      socket.onopen = () => {
        opened = true;
        this.socket = socket;
        resolve(socket);
      };
      socket.onmessage = (message) => {
        let reply;
        try {
          reply = JSON.parse(message.data);
        } catch {
          return;
        }
        if (!reply || typeof reply !== "object") return;
        if (reply.id !== null && reply.id !== undefined) this._settle(reply.id, reply);
        else if (reply.type === "error" && this.requests.size === 1) this._settle([...this.requests.keys()][0], { ...reply, id: [...this.requests.keys()][0] });
      };
      socket.onerror = () => {};
      socket.onclose = async (event) => {
        if (this.socket === socket) this.socket = null;
        if (opened) {
          this._failAll("disconnected", `the Beam closed (${event && event.code})`);
          return;
        }
        const { status } = await diagnose(this.baseUrl, this.agentId, this.env);
        reject(beamFailure(status, this.agentId));
      };
    }).finally(() => {
      this.opening = null;
    });
    return this.opening;
  }
}
