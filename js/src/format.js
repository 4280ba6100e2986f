// Text for the views: connection states, countdowns, numbers. Pure.

import { Status } from "./connection.js";

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

/** What a console input means: JSON when it parses, else the text itself. */
export function parseInput(text) {
  const raw = String(text ?? "");
  const trimmed = raw.trim();
  if (!trimmed) return { ok: false, message: "type something to send (JSON, or plain text)" };
  try {
    return { ok: true, data: JSON.parse(trimmed), json: true };
  } catch {
    return { ok: true, data: trimmed, json: false };
  }
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
