// Small DOM helpers shared by the views: element building, batched redraws,
// the status banner and the injected stylesheet.

import css from "./styles.css";
import { Status } from "./status.js";
import { statusText } from "./format.js";

/** `h("div", {class: "x", dataset: {a: 1}, onclick}, child, "text")` */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Run `fn` at most once per animation frame, however often it is asked for. */
export function batched(fn) {
  let frame = null;
  return {
    schedule() {
      if (frame === null) {
        frame = requestAnimationFrame(() => {
          frame = null;
          fn();
        });
      }
    },
    cancel() {
      if (frame !== null) cancelAnimationFrame(frame);
      frame = null;
    },
  };
}

/** Put the shared stylesheet into the document once (anywidget may also load it via `_css`). */
export function ensureStyles(doc = document) {
  if (doc.querySelector("style[data-terrarium-styles]")) return;
  const style = doc.createElement("style");
  style.dataset.terrariumStyles = "";
  style.textContent = css;
  doc.head.append(style);
}

/** A banner element that shows `statusText`, hidden while live. */
export function statusBanner() {
  const el = h("div", { class: "trm-banner", role: "status" });
  return {
    el,
    set(status, detail, agentId = null) {
      const text = statusText(status, detail, agentId);
      el.textContent = text ?? "";
      el.hidden = text === null;
      el.dataset.status = status;
      el.classList.toggle("trm-banner--bad", [Status.EXTENSION_MISSING, Status.UNKNOWN_AGENT, Status.ACCESS_DENIED].includes(status));
    },
  };
}
