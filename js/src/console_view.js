// The perturb console: a text/JSON input and a priority, sent through the
// Beam (or the kernel); every reply is listed under its request.

import { h } from "./dom.js";
import { parseInput, parsePriority, preview } from "./format.js";

const MAX_ITEMS = 50;

export function createConsole(hub, agentId, { title = true } = {}) {
  let target = agentId;
  const heading = title ? h("div", { class: "trm-section-title" }, h("span", {}, "Beam → "), h("code", {}, target ?? "")) : null;
  const textarea = h("textarea", {
    class: "trm-textarea",
    placeholder: '{"records": 3}   or plain text; Ctrl+Enter sends',
    spellcheck: false,
    "aria-label": "perturbation data",
  });
  const priority = h("input", {
    class: "trm-input trm-priority",
    type: "number",
    min: "1",
    max: "199",
    step: "1",
    value: "100",
    "aria-label": "priority",
  });
  const send = h("button", { class: "trm-button trm-button--primary", type: "submit" }, "Send");
  const hint = h("div", { class: "trm-hint" }, "JSON if it parses, else sent as a string.");
  const form = h(
    "form",
    { class: "trm-console-form" },
    textarea,
    h("div", { class: "trm-console-side" }, h("label", {}, "priority"), priority, send),
  );
  const list = h("ol", { class: "trm-replies", "aria-live": "polite" });
  const el = h("div", { class: "trm-console", dataset: { replies: "0", sent: "0" } }, heading, form, hint, list);
  let replies = 0;
  let sent = 0;
  let alive = true;

  function addItem(data, prio, json) {
    const body = h("div", { class: "trm-reply-body" }, "waiting for the agent…");
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
      ),
      body,
    );
    list.prepend(item);
    while (list.childElementCount > MAX_ITEMS) list.lastElementChild.remove();
    let first = true;
    return (reply) => {
      if (!alive) return;
      const line = describeReply(reply);
      item.dataset.kind = line.kind;
      if (first) body.textContent = line.text;
      else body.append(h("div", {}, line.text));
      first = false;
      if (line.kind === "result" || line.kind === "error") {
        replies += 1;
        el.dataset.replies = String(replies);
      }
    };
  }

  async function submit(event) {
    event?.preventDefault();
    const input = parseInput(textarea.value);
    const prio = parsePriority(priority.value);
    if (!input.ok || !prio.ok) {
      hint.textContent = !input.ok ? input.message : prio.message;
      hint.dataset.error = "";
      return;
    }
    if (!target) {
      hint.textContent = "no agent selected";
      return;
    }
    hint.textContent = "JSON if it parses, else sent as a string.";
    delete hint.dataset.error;
    sent += 1;
    el.dataset.sent = String(sent);
    const onReply = addItem(input.data, prio.priority, input.json);
    await hub.perturb(target, input.data, prio.priority, onReply);
  }

  form.addEventListener("submit", submit);
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) submit(event);
  });

  return {
    el,
    setAgent(id) {
      target = id;
      if (heading) heading.lastElementChild.textContent = id ?? "";
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
