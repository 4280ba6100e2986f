// Every address the widgets use, built from the server's base URL: REST under
// `{base}terrarium/api/`, the Reflection and the Beam as same-origin WebSockets
// (PROTOCOL.md section 4). Kept apart so that an encoding rule has one home.
// Pure: the page's location is a parameter.

export const OBSERVE_PATH = "terrarium/observe/";
export const PERTURB_PATH = "terrarium/perturb/";
export const API_PATH = "terrarium/api/";

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
