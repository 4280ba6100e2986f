// The perturb console: a text/JSON input and a priority, sent through the
// Beam (or the kernel); every reply is listed under its request, with how long
// it took. Text that starts like JSON but does not parse is refused, unless
// "send as text" is ticked; the priority scale is explained beside its input.

import { h } from "./dom.js";
import { PRIORITY_HELP, formatLatency, parseInput, parsePriority, preview } from "./format.js";

const MAX_ITEMS = 50;
const HINT = "JSON if it parses; plain words go as a string. Ctrl+Enter sends.";
let nextId = 1;

const clock = () => (globalThis.performance?.now ? performance.now() : Date.now());

export function createConsole(hub, agentId, { title = true } = {}) {
  const uid = nextId++;
  let target = agentId;
  const targetCode = h("code", {}, target ?? "");
  const body = h("div", { class: "trm-console-body", id: `trm-console-body-${uid}` });
  const collapse = h(
    "button",
    { class: "trm-collapse", type: "button", "aria-expanded": "true", "aria-controls": body.id, "aria-label": "fold the Beam", title: "fold or unfold the Beam" },
    "▾",
  );
  const heading = title ? h("div", { class: "trm-section-title" }, h("span", {}, "Beam → "), targetCode, collapse) : null;
  const textarea = h("textarea", {
    class: "trm-textarea",
    placeholder: '{"records": 3}   or plain text; Ctrl+Enter sends',
    spellcheck: false,
    "aria-label": "perturbation data",
  });
  const helpId = `trm-priority-help-${uid}`;
  const priority = h("input", {
    class: "trm-input trm-priority",
    type: "number",
    min: "1",
    max: "199",
    step: "1",
    value: "100",
    "aria-label": "priority",
    "aria-describedby": helpId,
    title: PRIORITY_HELP.long,
  });
  const asText = h("input", { type: "checkbox", class: "trm-as-text-box" });
  const send = h("button", { class: "trm-button trm-button--primary", type: "submit" }, "Send");
  const message = h("div", { class: "trm-console-message", role: "alert", hidden: true });
  const hint = h("div", { class: "trm-hint" }, HINT);
  const form = h(
    "form",
    { class: "trm-console-form" },
    textarea,
    h(
      "div",
      { class: "trm-console-row" },
      h("label", { class: "trm-priority-field" }, h("span", { class: "trm-field-label" }, "priority"), priority),
      h("span", { class: "trm-priority-help", id: helpId, title: PRIORITY_HELP.long }, PRIORITY_HELP.short, h("br"), "200 is reserved for resumed decisions"),
      h(
        "label",
        { class: "trm-as-text", title: "send exactly what is typed, as a string, without reading it as JSON" },
        asText,
        "send as text",
      ),
      send,
    ),
  );
  const list = h("ol", { class: "trm-replies", "aria-live": "polite" });
  body.append(form, message, hint, list);
  const el = h("div", { class: "trm-console", dataset: { replies: "0", sent: "0" } }, heading, body);
  let replies = 0;
  let sent = 0;
  let alive = true;

  collapse.addEventListener("click", () => {
    const open = collapse.getAttribute("aria-expanded") !== "true";
    collapse.setAttribute("aria-expanded", String(open));
    collapse.textContent = open ? "▾" : "▸";
    body.hidden = !open;
    el.toggleAttribute("data-collapsed", !open);
  });

  function say(text, kind = "error") {
    message.textContent = text ?? "";
    message.hidden = !text;
    message.dataset.kind = kind;
    el.toggleAttribute("data-refused", Boolean(text) && kind === "error");
  }

  function addItem(data, prio, json) {
    const started = clock();
    const itemBody = h("div", { class: "trm-reply-body" }, "waiting for the agent…");
    const latency = h("span", { class: "trm-reply-latency", title: "from send to reply" });
    const item = h(
      "li",
      { class: "trm-reply", dataset: { kind: "pending" } },
      h(
        "div",
        { class: "trm-reply-head" },
        h("span", {}, "→"),
        h("code", {}, preview(data, 120)),
        h("span", {}, json ? "json" : "text"),
        h("span", {}, `priority ${prio}`),
        h("span", {}, `to ${target}`),
        latency,
      ),
      itemBody,
    );
    list.prepend(item);
    while (list.childElementCount > MAX_ITEMS) list.lastElementChild.remove();
    let first = true;
    const took = [];
    return (reply) => {
      if (!alive) return;
      const ms = clock() - started;
      const line = describeReply(reply);
      item.dataset.kind = line.kind;
      item.dataset.latency = String(Math.round(ms));
      took.push(`${line.kind} ${formatLatency(ms)}`);
      latency.textContent = formatLatency(ms);
      latency.title = `from send to reply: ${took.join(", then ")}`;
      if (first) itemBody.textContent = line.text;
      else itemBody.append(h("div", {}, `${line.text} (after ${formatLatency(ms)})`));
      first = false;
      if (line.kind === "result" || line.kind === "error") {
        replies += 1;
        el.dataset.replies = String(replies);
      }
    };
  }

  async function submit(event) {
    event?.preventDefault();
    const input = parseInput(textarea.value, { asText: asText.checked });
    const prio = parsePriority(priority.value);
    if (!input.ok || !prio.ok) {
      say(!input.ok ? input.message : prio.message);
      return;
    }
    if (!target) {
      say("No agent selected: click a tile to aim the Beam.");
      return;
    }
    say("");
    sent += 1;
    el.dataset.sent = String(sent);
    const onReply = addItem(input.data, prio.priority, input.json);
    await hub.perturb(target, input.data, prio.priority, onReply);
  }

  form.addEventListener("submit", submit);
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) submit(event);
  });
  // A refusal goes once the text (or the box) would be sent.
  const recheck = () => {
    if (message.hidden) return;
    if (parseInput(textarea.value, { asText: asText.checked }).ok && parsePriority(priority.value).ok) say("");
  };
  textarea.addEventListener("input", recheck);
  asText.addEventListener("change", recheck);
  priority.addEventListener("input", recheck);

  return {
    el,
    setAgent(id) {
      target = id;
      targetCode.textContent = id ?? "";
    },
    destroy() {
      alive = false;
    },
  };
}

/** `{kind, text}` for one Beam reply frame. */
export function describeReply(reply) {
  switch (reply && reply.type) {
    case "result":
      return { kind: "result", text: `result ${preview(reply.output)}` };
    case "semaphore": {
      const token = reply.token || {};
      const options = Array.isArray(token.options) && token.options.length ? ` [${token.options.join(" / ")}]` : "";
      return { kind: "semaphore", text: `semaphore (${token.severity ?? "info"}): ${token.prompt ?? ""}${options}; waiting in Purgatory` };
    }
    case "error":
      return { kind: "error", text: `${reply.code ?? "error"}: ${reply.message ?? ""}` };
    default:
      return { kind: "pending", text: preview(reply) };
  }
}
