// Text for the views: connection states, countdowns, numbers. Pure.

import { Status } from "./status.js";

/** What to tell the user about a connection state; null when all is well. */
export function statusText(status, detail, agentId = null) {
  const who = agentId === null ? "" : ` ${JSON.stringify(agentId)}`;
  switch (status) {
    case Status.EXTENSION_MISSING:
      return (
        "The Terrarium server extension is not reachable from this page" +
        (detail && detail.includes("kernel") ? ", and the kernel has sent no data. " : ". ") +
        "Install terrarium into the Jupyter server's environment (jupyter server extension list " +
        "should show jupyter_extension), or run the agent in this kernel."
      );
    case Status.UNKNOWN_AGENT:
      return `Unknown agent${who}: nothing by that name is being served${detail && detail.includes("removed") ? " any more" : ""}. Waiting for it to appear…`;
    case Status.ACCESS_DENIED:
      return detail
        ? `Access denied: ${detail}.`
        : "Access denied. Log in to this Jupyter server (observing needs 'read' on terrarium).";
    case Status.RECONNECTING:
      return `Reconnecting${detail ? ` (${detail})` : "…"}`;
    case Status.CONNECTING:
      return "Connecting…";
    case Status.WAITING:
      return detail && detail.includes("no data")
        ? "Waiting for the kernel: it has sent no data yet (transport='comm'). Is the agent running in this kernel?"
        : "Waiting for the kernel…";
    case Status.CLOSED:
      return "Closed.";
    default:
      return null;
  }
}

/** "4:05", "59 s", "overdue" for a deadline in ISO-8601. */
export function countdown(deadline, now = Date.now()) {
  if (!deadline) return null;
  const end = Date.parse(deadline);
  if (Number.isNaN(end)) return null;
  const seconds = Math.floor((end - now) / 1000);
  if (seconds <= 0) return "overdue";
  if (seconds < 60) return `${seconds} s`;
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = String(seconds % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

export function formatNumber(value, digits = 1) {
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  return Math.abs(n) >= 100 ? String(Math.round(n)) : n.toFixed(digits);
}

/**
 * What a console input means: JSON when it parses, else the text itself. Text
 * that starts like JSON (`{` or `[`) but does not parse is refused
 * (`code: "broken_json"`): a typo would otherwise reach the agent as a
 * string. `asText` sends whatever was typed as a string, unparsed.
 */
export function parseInput(text, { asText = false } = {}) {
  const raw = String(text ?? "");
  const trimmed = raw.trim();
  if (!trimmed) return { ok: false, code: "empty", message: "type something to send (JSON, or plain text)" };
  if (asText) return { ok: true, data: trimmed, json: false };
  try {
    return { ok: true, data: JSON.parse(trimmed), json: true };
  } catch (error) {
    if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
      const why = error && error.message ? error.message : "it does not parse";
      return {
        ok: false,
        code: "broken_json",
        message: `Not sent: this looks like JSON but is not valid (${why}). Fix it, or tick “send as text” to send it as a string.`,
      };
    }
    return { ok: true, data: trimmed, json: false };
  }
}

/** What the console says next to its priority input. */
export const PRIORITY_HELP = Object.freeze({
  short: "1–199, default 100; higher is served first",
  long:
    "Priority 1–199 (default 100): higher is served first, first come first served within a priority. " +
    "200 is reserved for decisions resumed from Purgatory, so a human's answer overtakes everything else.",
});

/** "42 ms", "1250 ms": how long an answer took, from send to reply. */
export function formatLatency(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n) || n < 0) return "";
  return `${Math.round(n)} ms`;
}

/** A Beam priority: a whole number from 1 to 199 (200 is kept for resumed semaphores). */
export function parsePriority(value, fallback = 100) {
  const raw = String(value ?? "").trim();
  if (!raw) return { ok: true, priority: fallback };
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 199) return { ok: false, message: "priority must be a whole number from 1 to 199" };
  return { ok: true, priority: n };
}

/** Compact JSON for display, cut at `limit` characters. */
export function preview(value, limit = 400) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined) text = String(value);
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

const finite = (value) => {
  const n = typeof value === "number" ? value : Number.NaN;
  return Number.isFinite(n) ? n : null;
};

/**
 * The figures a tile shows: label, unit, and what the figure means (its tooltip).
 * The window is the gateway's (terrarium/metrics.py): the last 10 s, at least 5 s.
 */
export const VITALS = Object.freeze({
  pressure: Object.freeze({
    label: "pressure",
    unit: "%",
    title: "Pressure: how full the agent's perturbation queue is, 0–100 % (healthy < 50, degraded 50–80, critical > 80).",
  }),
  flow: Object.freeze({
    label: "flow",
    unit: "ev/s",
    title: "Flow: events per second the agent produced over the last 10 s (counted over at least 5 s while it is new).",
  }),
  temperature: Object.freeze({
    label: "temp",
    unit: "",
    title:
      "Temperature, 0–1: the entropy the agent holds over its entropy budget (or its own figure). " +
      "Events warm it, time cools it; at 1 it drains and stops. 0 for an agent without a budget.",
  }),
  turbulence: Object.freeze({
    label: "turbulence",
    unit: "",
    title: "Turbulence, 0–1: errors per event over the last 10 s (0 calm, 1 every event failed).",
  }),
  observers: Object.freeze({
    label: "observers",
    unit: "",
    title: "Observers: clients watching this agent's stream right now.",
  }),
  events: Object.freeze({
    label: "events",
    unit: "",
    title: "Events this agent produced; seq of the latest.",
  }),
});

/** A figure as the tiles show it: `{text, unit}`; "–" for anything not a finite number. */
export function formatVital(name, value) {
  const unit = VITALS[name]?.unit ?? "";
  const n = finite(value);
  if (n === null) return { text: "–", unit };
  switch (name) {
    case "pressure":
      return { text: String(Math.round(Math.min(100, Math.max(0, n)))), unit };
    case "flow": {
      const flow = Math.max(0, n);
      if (flow === 0) return { text: "0", unit };
      if (flow < 1) return { text: flow.toFixed(2), unit };
      return { text: flow < 100 ? flow.toFixed(1) : String(Math.round(flow)), unit };
    }
    case "temperature":
    case "turbulence":
      return { text: Math.min(1, Math.max(0, n)).toFixed(2), unit };
    case "observers":
    case "events":
      return { text: String(Math.max(0, Math.round(n))), unit };
    default:
      return { text: formatNumber(n), unit };
  }
}

/** The tooltip of a figure, with the figure itself where it helps ("seq 42"). */
export function vitalTitle(name, value) {
  const spec = VITALS[name];
  if (!spec) return "";
  const n = finite(value);
  if (name === "events" && n !== null) return `${spec.title} (seq ${Math.max(0, Math.round(n))})`;
  return spec.title;
}
