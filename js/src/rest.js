// REST with the page's own Jupyter login: the `_xsrf` cookie sent back as
// `X-XSRFToken`, calls that answer instead of throwing, and what an answer
// about an agent means for a stream (`diagnose`: a browser WebSocket never
// shows why a handshake failed, REST does). No token is read or kept here.

import { Status } from "./status.js";
import { apiUrl } from "./urls.js";

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
