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
      return `Unknown agent${who}: the server has no agent by that name${detail && detail.includes("removed") ? " any more" : ""}. Waiting for it to appear…`;
    case Status.ACCESS_DENIED:
      return `Access denied${detail ? `: ${detail}` : ""}. Log in to this Jupyter server (observing needs 'read' on terrarium).`;
    case Status.RECONNECTING:
      return `Reconnecting${detail ? ` (${detail})` : "…"}`;
    case Status.CONNECTING:
      return "Connecting…";
    case Status.WAITING:
      return "Waiting for the kernel…";
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
