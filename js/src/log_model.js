// What the event log shows, apart from how it is drawn: the groups its type
// filter offers, which lines a filter and a search keep, the full JSON a line
// expands to, and how a paused log counts what it did not show. Pure.

/** The filter chips, in order: a group of event types each. */
export const LOG_GROUPS = Object.freeze([
  Object.freeze({ key: "state", label: "state", title: "lifecycle changes (state events)" }),
  Object.freeze({ key: "perturbation", label: "perturbation", title: "perturbations accepted into the queue" }),
  Object.freeze({ key: "result", label: "result", title: "results" }),
  Object.freeze({ key: "error", label: "error", title: "errors the agent raised" }),
  Object.freeze({ key: "semaphore", label: "semaphore", title: "Purgatory: semaphores ejected, resolved, cancelled, voided" }),
  Object.freeze({ key: "gap", label: "gap", title: "events this view missed" }),
  Object.freeze({ key: "other", label: "other", title: "every other event type (drop, …)" }),
]);

const KNOWN = new Set(["state", "perturbation", "result", "error", "gap"]);

/** The filter group of an event type; null for a separator (always shown). */
export function groupOf(type) {
  if (type === "reset") return null;
  if (KNOWN.has(type)) return type;
  if (typeof type === "string" && type.startsWith("semaphore")) return "semaphore";
  return "other";
}

/** The searchable text of a log entry: its line and its frame's JSON. */
export function searchText(entry) {
  let json = "";
  if (entry.frame) {
    try {
      json = JSON.stringify(entry.frame);
    } catch {
      json = "";
    }
  }
  return `${entry.seq ?? ""} ${entry.text ?? ""} ${json}`.toLowerCase();
}

/**
 * Does `entry` show under `filter` = `{hidden: Set of group keys, query}`?
 * A stream's separator (type `reset`) always shows: it says where the
 * numbering started over, whatever is filtered.
 */
export function entryShown(entry, { hidden = new Set(), query = "" } = {}) {
  const group = groupOf(entry.type);
  if (group === null) return true;
  if (hidden.has(group)) return false;
  const words = String(query).toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const text = searchText(entry);
  return words.every((word) => text.includes(word));
}

/** The full JSON of a line's frame, indented, as the expanded line shows and Copy copies. */
export function prettyFrame(entry) {
  if (!entry || !entry.frame) return entry?.text ?? "";
  try {
    return JSON.stringify(entry.frame, null, 2);
  } catch {
    return String(entry.text ?? "");
  }
}

/**
 * What a log view does with the record's log: `fresh` entries to draw (newer
 * than `shown`, the last entry number drawn) and `lost`, how many of those
 * rolled off the record's ring before they could be drawn (a long pause).
 */
export function freshEntries(log, shown) {
  const fresh = log.filter((entry) => entry.n > shown);
  const first = fresh.length ? fresh[0].n : null;
  const lost = first !== null && shown > 0 && first > shown + 1 ? first - shown - 1 : 0;
  return { fresh, lost };
}

/** How many kept entries fall in each group (the chips' counts). */
export function groupCounts(log) {
  const counts = Object.fromEntries(LOG_GROUPS.map((group) => [group.key, 0]));
  for (const entry of log) {
    const group = groupOf(entry.type);
    if (group !== null) counts[group] += 1;
  }
  return counts;
}
