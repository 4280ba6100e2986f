// The `{base}terrarium/` page: the pipelines the server runs (each drawn
// live, its stages fed by the same hub as the tiles), the DensityField grid of
// every agent, the Purgatory panel and a Beam console for the selected tile or
// stage, built from the same views as the widgets and fed by the same hub.

import { createConsole } from "./console_view.js";
import { ensureStyles, h } from "./dom.js";
import { createGrid } from "./grid_view.js";
import { AgentHub } from "./hub.js";
import { readPageConfig } from "./page_config.js";
import { createPipelineView, ensurePipelineStyles, pollPipelines } from "./pipeline_view.js";
import { createPurgatory } from "./purgatory_view.js";

function start() {
  ensureStyles(document);
  ensurePipelineStyles(document);
  const config = readPageConfig(document) ?? { baseUrl: "/" };
  // This page is served by the extension itself: its marker is implied.
  const hub = new AgentHub({ transport: "server", config, assumeExtension: true }).start();

  const conn = h("span", { class: "trm-conn" });
  const consoleView = createConsole(hub, null);
  const purgatory = createPurgatory(hub, null, { banner: false });
  const pipelines = new Map();
  let aimed = null;
  const grid = createGrid(hub, {
    log: "short",
    onSelect: (id) => {
      aimed = id;
      consoleView.setAgent(id);
      for (const view of pipelines.values()) view.setSelected(id);
    },
  });
  const pipelineList = h("div", { class: "trm-pipeline-list" });
  const pipelineSection = h(
    "section",
    { class: "trm-pipelines", hidden: true, dataset: { pipelines: "0" }, "aria-label": "pipelines" },
    h("h2", { class: "trm-pipelines-title" }, "Pipelines"),
    pipelineList,
  );
  // One listing a second carries every pipeline's figures (the same PIPELINE
  // objects as api/pipelines/{id}); a pipeline that goes takes its drawing along.
  const poller = pollPipelines({
    baseUrl: hub.baseUrl,
    onReply: ({ status, detail, body }) => {
      if (status !== "live") {
        for (const view of pipelines.values()) view.setStatus(status, detail);
        return;
      }
      // Shown before drawing, so that each new view lays out at its real width.
      pipelineSection.hidden = body.pipelines.length === 0;
      const seen = new Set();
      for (const pipeline of body.pipelines) {
        if (!pipeline || typeof pipeline.id !== "string") continue;
        seen.add(pipeline.id);
        let view = pipelines.get(pipeline.id);
        if (!view) {
          view = createPipelineView(hub, { pipelineId: pipeline.id, onSelect: (id) => grid.select(id), selected: aimed });
          pipelines.set(pipeline.id, view);
          pipelineList.append(view.el);
        }
        view.setStatus(status, detail);
        view.update(pipeline);
      }
      for (const [id, view] of pipelines) {
        if (!seen.has(id)) {
          view.destroy();
          view.el.remove();
          pipelines.delete(id);
        }
      }
      pipelineSection.hidden = pipelines.size === 0;
      pipelineSection.dataset.pipelines = String(pipelines.size);
    },
  });
  const showStatus = () => {
    conn.dataset.status = hub.status.status;
    conn.textContent = hub.status.status === "live" ? `${hub.ids().length} agents live` : hub.status.status;
    conn.title = hub.status.detail || "";
  };
  hub.on("status", showStatus);
  hub.on("agents", showStatus);
  showStatus();

  // `#agent=ID` (JupyterLab's Terrarium panel links here) selects that agent:
  // at once if it is listed, else as soon as it is.
  let wanted = null;
  const aimAtWanted = () => {
    if (wanted === null || !hub.ids().includes(wanted)) return;
    grid.select(wanted);
    wanted = null;
    queueMicrotask(() => grid.el.querySelector("[data-selected]")?.scrollIntoView?.({ block: "nearest" }));
  };
  const followHash = () => {
    const match = /^#agent=(.+)$/.exec(globalThis.location?.hash ?? "");
    wanted = match ? decodeURIComponent(match[1]) : null;
    aimAtWanted();
  };
  hub.on("agents", aimAtWanted);
  globalThis.addEventListener("hashchange", followHash);
  followHash();

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
        h("main", { class: "trm-main" }, pipelineSection, h("div", { class: "trm" }, grid.el)),
        h(
          "aside",
          { class: "trm-side" },
          h("div", { class: "trm" }, purgatory.el),
          h("div", { class: "trm trm-beam" }, consoleView.el, h("div", { class: "trm-hint" }, "Click a tile or a pipeline stage to aim the Beam at it. Perturbing needs a Jupyter login.")),
        ),
      ),
    ),
  );
  document.body.classList.add("trm-page");
  globalThis.addEventListener("pagehide", () => {
    poller.stop();
    for (const view of pipelines.values()) view.destroy();
    hub.close();
  });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
