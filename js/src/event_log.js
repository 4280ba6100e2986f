// An agent's event log as a view: one line per event, newest at the bottom.
// The full log ("full") has a type filter (chips), a text search and
// pause/resume (paused, new lines are counted, not drawn: an "N new" badge);
// a click on a line opens its whole frame as indented JSON with a Copy button.
// Where the agent's stream started over (the record's `reset` entry), a
// separator runs across the log, whatever the filter. The short log of a grid
// tile is the same lines, one each, without the tools.

import { batched, h } from "./dom.js";
import { LOG_GROUPS, entryShown, freshEntries, groupCounts, groupOf, prettyFrame } from "./log_model.js";
import { LOG_SIZE } from "./record.js";

let nextId = 1;

/** Put `text` on the clipboard; true when it is there. */
async function copyText(text) {
  try {
    if (globalThis.navigator?.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // denied (an insecure origin, no permission): try the older way below
  }
  const area = h("textarea", { style: { position: "fixed", left: "-9999px", top: "0" }, readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  let done = false;
  try {
    done = document.execCommand("copy");
  } catch {
    done = false;
  }
  area.remove();
  return done;
}

/**
 * @param variant "full" (tools, expandable lines) or "short" (a tile's few lines)
 * @returns `{el, render(record), destroy()}`; `render` is cheap to call on every update
 */
export function createEventLog({ variant = "full", limit = variant === "short" ? 40 : LOG_SIZE, label = "event log" } = {}) {
  const full = variant === "full";
  const id = `trm-log-${nextId++}`;
  const list = h("div", { class: `trm-log${full ? "" : " trm-log--short"}`, role: "log", id, "aria-label": label, tabindex: "0" });
  const noMatch = h("div", { class: "trm-log-empty", hidden: true }, "No line matches the filter.");
  const filter = { hidden: new Set(), query: "" };
  const lines = new Map(); // entry n -> {el, entry}
  let shown = 0;
  let paused = false;
  let waiting = 0;
  let latest = null;
  const chips = new Map();

  const searchBox = full
    ? h("input", {
        class: "trm-input trm-log-search",
        type: "search",
        placeholder: "search the log",
        "aria-label": "search the log",
        "aria-controls": id,
      })
    : null;
  const pauseButton = full
    ? h("button", { class: "trm-button trm-log-pause", type: "button", "aria-pressed": "false", "aria-controls": id }, "Pause")
    : null;
  const badge = full
    ? h("button", { class: "trm-log-new", type: "button", hidden: true, title: "Lines that came while the log was paused: click to show them" })
    : null;
  const tools = full
    ? h(
        "div",
        { class: "trm-log-tools" },
        h(
          "div",
          { class: "trm-chips", role: "group", "aria-label": "show event types" },
          LOG_GROUPS.map((group) => {
            const count = h("span", { class: "trm-chip-count" }, "0");
            const chip = h(
              "button",
              {
                class: "trm-chip",
                type: "button",
                title: `${group.title}: click to hide or show`,
                "aria-pressed": "true",
                dataset: { group: group.key },
                onclick: () => {
                  const on = filter.hidden.has(group.key);
                  if (on) filter.hidden.delete(group.key);
                  else filter.hidden.add(group.key);
                  chip.setAttribute("aria-pressed", String(on));
                  applyFilter();
                },
              },
              group.label,
              " ",
              count,
            );
            chips.set(group.key, { chip, count });
            return chip;
          }),
        ),
        h("div", { class: "trm-log-actions" }, searchBox, pauseButton, badge),
      )
    : null;
  const el = h(
    "div",
    { class: `trm-events trm-events--${variant}`, dataset: { lines: "0", new: "0" } },
    tools,
    list,
    full ? noMatch : null,
  );

  function lineOf(entry) {
    const group = groupOf(entry.type);
    if (entry.type === "reset" || entry.type === "lost") {
      return h(
        "div",
        { class: "trm-log-line trm-log-separator", role: "separator", "aria-label": entry.text, dataset: { type: entry.type } },
        h("span", { class: "trm-log-text" }, entry.text),
      );
    }
    const seq = entry.seq !== null && entry.seq !== undefined ? h("span", { class: "trm-log-seq" }, `#${entry.seq}`) : null;
    const text = h("span", { class: "trm-log-text" }, entry.text);
    if (!full) {
      return h("div", { class: "trm-log-line", title: entry.text, dataset: { type: entry.type, group } }, seq, seq ? " " : null, text);
    }
    const head = h("div", { class: "trm-log-head", role: "button", tabindex: "0", "aria-expanded": "false", title: "show the whole event" }, seq, seq ? " " : null, text);
    const line = h("div", { class: "trm-log-line", dataset: { type: entry.type, group, n: String(entry.n) } }, head);
    let detail = null;
    const toggle = () => {
      const open = head.getAttribute("aria-expanded") !== "true";
      head.setAttribute("aria-expanded", String(open));
      line.toggleAttribute("data-expanded", open);
      if (!open) {
        detail?.remove();
        detail = null;
        return;
      }
      const json = prettyFrame(entry);
      const status = h("span", { class: "trm-log-copied", role: "status" });
      const copy = h(
        "button",
        {
          class: "trm-button trm-log-copy",
          type: "button",
          onclick: async (event) => {
            event.stopPropagation();
            const ok = await copyText(json);
            status.textContent = ok ? "copied" : "could not copy: select the text and copy it";
            line.dataset.copied = ok ? "yes" : "no";
          },
        },
        "Copy",
      );
      detail = h("div", { class: "trm-log-detail" }, h("div", { class: "trm-log-detail-bar" }, copy, status), h("pre", { class: "trm-log-json" }, json));
      line.append(detail);
    };
    head.addEventListener("click", toggle);
    head.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        toggle();
      }
    });
    return line;
  }

  function applyOne(item) {
    item.el.hidden = !(item.entry.type === "lost" || entryShown(item.entry, filter));
  }

  function applyFilter() {
    for (const item of lines.values()) applyOne(item);
    updateEmpty();
  }

  function updateEmpty() {
    if (!full) return;
    const any = [...lines.values()].some((item) => !item.el.hidden && groupOf(item.entry.type) !== null);
    const filtering = filter.hidden.size > 0 || filter.query.trim() !== "";
    noMatch.hidden = !(filtering && lines.size > 0 && !any);
  }

  function showWaiting() {
    if (!badge) return;
    badge.hidden = waiting === 0;
    badge.textContent = `${waiting} new`;
    el.dataset.new = String(waiting);
  }

  function clear() {
    list.textContent = "";
    lines.clear();
    shown = 0;
  }

  function render(record) {
    if (!record) return;
    latest = record;
    if (record.logCount < shown) clear();
    if (full) {
      const counts = groupCounts(record.log);
      for (const [key, { count }] of chips) count.textContent = String(counts[key]);
    }
    if (paused) {
      waiting = record.logCount - shown;
      showWaiting();
      return;
    }
    const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 4 || list.childElementCount === 0;
    const { fresh, lost } = freshEntries(record.log, shown);
    const drawn = [];
    if (lost > 0 && full) {
      drawn.push({ n: fresh[0].n - 0.5, type: "lost", seq: null, text: `${lost} line${lost === 1 ? "" : "s"} came and went while the log was paused` });
    }
    drawn.push(...fresh.slice(-limit));
    for (const entry of drawn) {
      const item = { el: lineOf(entry), entry };
      applyOne(item);
      lines.set(entry.n, item);
      list.append(item.el);
    }
    if (fresh.length) shown = fresh[fresh.length - 1].n;
    while (lines.size > limit) {
      const [oldest] = lines.keys();
      lines.get(oldest).el.remove();
      lines.delete(oldest);
    }
    el.dataset.lines = String(lines.size);
    if (drawn.length) updateEmpty();
    if (stick && drawn.length) list.scrollTop = list.scrollHeight;
  }

  const rerender = batched(() => render(latest));

  function setPaused(value) {
    paused = value;
    el.toggleAttribute("data-paused", paused);
    if (pauseButton) {
      pauseButton.textContent = paused ? "Resume" : "Pause";
      pauseButton.setAttribute("aria-pressed", String(paused));
    }
    if (!paused) {
      waiting = 0;
      showWaiting();
      rerender.schedule();
    }
  }

  if (full) {
    pauseButton.addEventListener("click", () => setPaused(!paused));
    badge.addEventListener("click", () => setPaused(false));
    searchBox.addEventListener("input", () => {
      filter.query = searchBox.value;
      applyFilter();
    });
  }

  return {
    el,
    render,
    destroy() {
      rerender.cancel();
      clear();
    },
  };
}
