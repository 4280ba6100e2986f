// The `{base}terrarium/` page: the DensityField grid of every agent, the
// Purgatory panel and a Beam console for the selected tile, built from the
// same views as the widgets and fed by the same hub.

import { createConsole } from "./console_view.js";
import { readPageConfig } from "./connection.js";
import { ensureStyles, h } from "./dom.js";
import { createGrid } from "./grid_view.js";
import { AgentHub } from "./hub.js";
import { createPurgatory } from "./purgatory_view.js";

function start() {
  ensureStyles(document);
  const config = readPageConfig(document) ?? { baseUrl: "/" };
  // This page is served by the extension itself: its marker is implied.
  const hub = new AgentHub({ transport: "server", config, assumeExtension: true }).start();

  const conn = h("span", { class: "trm-conn" });
  const consoleView = createConsole(hub, null);
  const purgatory = createPurgatory(hub, null, { banner: false });
  const grid = createGrid(hub, { log: "short", onSelect: (id) => consoleView.setAgent(id) });
  const showStatus = () => {
    conn.dataset.status = hub.status.status;
    conn.textContent = hub.status.status === "live" ? `${hub.ids().length} agents live` : hub.status.status;
    conn.title = hub.status.detail || "";
  };
  hub.on("status", showStatus);
  hub.on("agents", showStatus);
  showStatus();

  const root = document.getElementById("terrarium") ?? document.body.appendChild(h("div", { id: "terrarium" }));
  root.replaceChildren(
    h(
      "div",
      { class: "trm trm-shell" },
      h(
        "header",
        { class: "trm-header" },
        h("h1", {}, "Terrarium"),
        h("span", { class: "trm-subtitle" }, "every agent, live from its observe stream"),
        conn,
      ),
      h(
        "div",
        { class: "trm-layout" },
        h("main", { class: "trm-main" }, h("div", { class: "trm" }, grid.el)),
        h(
          "aside",
          { class: "trm-side" },
          h("div", { class: "trm" }, purgatory.el),
          h("div", { class: "trm trm-beam" }, consoleView.el, h("div", { class: "trm-hint" }, "Click a tile to aim the Beam at it. Perturbing needs a Jupyter login.")),
        ),
      ),
    ),
  );
  document.body.classList.add("trm-page");
  globalThis.addEventListener("pagehide", () => hub.close());
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
