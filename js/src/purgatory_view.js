// Purgatory: pending semaphores as cards that a human answers or cancels.
// A card leaves when its token is resolved, cancelled or voided anywhere
// (the observe streams say so), or as soon as this page settles it.

import { batched, h, statusBanner } from "./dom.js";
import { countdown } from "./format.js";

let nextId = 1;

export function createPurgatory(hub, agentId = null, { banner: withBanner = true } = {}) {
  const count = h("span", { class: "trm-count" });
  const banner = withBanner ? statusBanner() : null;
  const cards = h("div", { class: "trm-cards" });
  const empty = h("div", { class: "trm-empty" }, "Nothing is waiting for a human.");
  const body = h("div", { class: "trm-purgatory-body", id: `trm-purgatory-body-${nextId++}` }, banner?.el, cards, empty);
  // Shown on the dashboard only (styles.css): there, on a narrow screen, Purgatory
  // and the Beam share a drawer pinned to the bottom, and either can fold away.
  const collapse = h(
    "button",
    { class: "trm-collapse", type: "button", "aria-expanded": "true", "aria-controls": body.id, "aria-label": "fold Purgatory", title: "fold or unfold Purgatory" },
    "▾",
  );
  const head = h("div", { class: "trm-purgatory-head" }, h("h3", {}, "Purgatory"), count, collapse);
  const el = h("div", { class: "trm-purgatory", dataset: { pending: "0" } }, head, body);
  const shown = new Map();
  collapse.addEventListener("click", () => {
    const open = collapse.getAttribute("aria-expanded") !== "true";
    collapse.setAttribute("aria-expanded", String(open));
    collapse.textContent = open ? "▾" : "▸";
    body.hidden = !open;
    el.toggleAttribute("data-collapsed", !open);
  });

  function card(owner, token) {
    const severity = ["info", "warning", "critical"].includes(token.severity) ? token.severity : "info";
    const error = h("div", { class: "trm-card-error", role: "alert" });
    const deadline = h("span", { class: "trm-deadline" });
    const buttons = [];
    const answer = h("input", {
      class: "trm-input",
      type: "text",
      placeholder: "your answer",
      "aria-label": "free-text answer",
    });
    const run = async (action) => {
      for (const button of buttons) button.disabled = true;
      answer.disabled = true;
      error.textContent = "";
      const outcome = await action();
      if (!outcome.ok) {
        const settled = outcome.code === "not_pending" || outcome.code === "unknown_token";
        error.textContent = settled
          ? `already ${outcome.token?.status ?? "settled"} elsewhere`
          : `${outcome.code}: ${outcome.message || "the request failed"}`;
        if (!settled) {
          for (const button of buttons) button.disabled = false;
          answer.disabled = false;
        }
      }
    };
    const resolveWith = (value) => run(() => hub.resolve(owner, token.id, value));
    const options = (Array.isArray(token.options) ? token.options : []).map((option) => {
      const button = h("button", { class: "trm-button trm-option", type: "button", onclick: () => resolveWith(option) }, String(option));
      buttons.push(button);
      return button;
    });
    const sendAnswer = h("button", { class: "trm-button trm-button--primary", type: "submit" }, "Send");
    const cancel = h(
      "button",
      { class: "trm-button trm-button--danger", type: "button", onclick: () => run(() => hub.cancel(owner, token.id)) },
      "Cancel",
    );
    buttons.push(sendAnswer, cancel);
    const form = h(
      "form",
      {
        class: "trm-answer",
        onsubmit: (event) => {
          event.preventDefault();
          if (answer.value.trim()) resolveWith(answer.value.trim());
        },
      },
      answer,
      sendAnswer,
      cancel,
    );
    const el = h(
      "article",
      { class: "trm-card", dataset: { severity, token: token.id, agent: owner } },
      h(
        "div",
        { class: "trm-card-meta" },
        h("span", { class: "trm-severity" }, severity),
        h("span", {}, owner),
        token.reason ? h("span", {}, token.reason) : null,
        deadline,
      ),
      h("div", { class: "trm-prompt" }, token.prompt || "(no prompt)"),
      options.length ? h("div", { class: "trm-options" }, options) : null,
      form,
      error,
    );
    const tick = () => {
      const left = countdown(token.deadline);
      deadline.textContent = left === null ? "no deadline" : left === "overdue" ? "deadline passed" : `${left} left`;
      const end = Date.parse(token.deadline);
      deadline.toggleAttribute("data-urgent", !Number.isNaN(end) && end - Date.now() < 60000);
    };
    tick();
    return { el, tick };
  }

  const reconcile = batched(() => {
    const pending = hub.pending(agentId);
    const keys = new Set();
    for (const { agentId: owner, token } of pending) {
      const key = `${owner}/${token.id}`;
      keys.add(key);
      if (!shown.has(key)) {
        const entry = card(owner, token);
        shown.set(key, entry);
        cards.append(entry.el);
      }
    }
    for (const [key, entry] of shown) {
      if (!keys.has(key)) {
        entry.el.remove();
        shown.delete(key);
      }
    }
    count.textContent = pending.length ? `${pending.length} waiting` : "";
    el.dataset.pending = String(pending.length);
    empty.hidden = pending.length > 0;
  });

  const showStatus = () => {
    if (banner) banner.set(hub.status.status, hub.status.detail, agentId);
    el.dataset.status = hub.status.status;
  };
  const offs = [
    hub.on("update", () => reconcile.schedule()),
    hub.on("agents", () => reconcile.schedule()),
    hub.on("status", showStatus),
  ];
  const clock = setInterval(() => {
    for (const entry of shown.values()) entry.tick();
  }, 1000);
  showStatus();
  reconcile.schedule();

  return {
    el,
    destroy() {
      for (const off of offs) off();
      clearInterval(clock);
      reconcile.cancel();
    },
  };
}
