// Pipeline(pipeline_id): a pipeline drawn live (pipeline_view.js), its
// figures polled from `api/pipelines/{id}` every second, each stage's
// DensityField fed by that stage's own observe stream, and a Beam under the
// graph aimed at the stage last clicked. Traits: pipeline_id (read), selected
// (the clicked stage; set from Python to aim the Beam, or link it to a
// PerturbConsole's agent_id). It needs the Terrarium server extension: a
// pipeline lives on the server, and the kernel comm carries single agents
// only, so where the page has no extension the widget says so instead.
// The root carries data-pipeline, data-status and data-selected.

import { createConsole } from "./console_view.js";
import { ensureStyles, h } from "./dom.js";
import { Emitter } from "./emitter.js";
import { AgentHub } from "./hub.js";
import { hasExtension, readPageConfig } from "./page_config.js";
import { createPipelineView, ensurePipelineStyles, pollPipelines } from "./pipeline_view.js";
import { Status } from "./status.js";
import { normalizeBaseUrl } from "./urls.js";

/**
 * The stages' records, one server-transport hub (one observe socket) per
 * stage, behind the `record`/`on`/`perturb` face the views use; so the widget
 * watches its stages and nothing else the server runs.
 */
export class StageHubs {
  constructor({ config, env = {} }) {
    this.config = config;
    this.env = env;
    this.hubs = new Map();
    this.offs = new Map();
    this.events = new Emitter();
  }

  _hub(id, observe = true) {
    const hub = new AgentHub({ agentId: id, transport: "server", model: null, config: this.config, observe, env: this.env }).start();
    this.offs.set(id, [
      hub.on("frame", (...args) => this.events.emit("frame", ...args)),
      hub.on("update", (...args) => this.events.emit("update", ...args)),
    ]);
    this.hubs.set(id, hub);
    return hub;
  }

  /** Watch exactly these stages. */
  follow(ids) {
    for (const id of ids) if (!this.hubs.has(id)) this._hub(id);
    for (const id of [...this.hubs.keys()]) if (!ids.includes(id)) this._drop(id);
  }

  _drop(id) {
    for (const off of this.offs.get(id) ?? []) off();
    this.offs.delete(id);
    this.hubs.get(id)?.close();
    this.hubs.delete(id);
  }

  record(id) {
    return this.hubs.get(id)?.record(id) ?? null;
  }

  on(name, fn) {
    return this.events.on(name, fn);
  }

  perturb(agentId, data, priority, onReply) {
    const hub = this.hubs.get(agentId) ?? this._hub(agentId, false);
    return hub.perturb(agentId, data, priority, onReply);
  }

  close() {
    for (const id of [...this.hubs.keys()]) this._drop(id);
    this.events.clear();
  }
}

function trait(model, name, fallback = null) {
  try {
    const value = model.get(name);
    return value === undefined ? fallback : value;
  } catch {
    return fallback;
  }
}

/** The text shown where the page has no Terrarium server extension. */
export function needsServerText(pipelineId) {
  return (
    `Pipeline(${JSON.stringify(pipelineId)}) needs the Terrarium server extension: a pipeline lives on the ` +
    "Jupyter server, and this page reaches only the kernel comm (VS Code, Colab, marimo, or a Jupyter " +
    "server without terrarium installed), which carries single agents, not pipelines. Open this notebook " +
    "in JupyterLab on a server with terrarium installed (jupyter server extension list should show " +
    "jupyter_extension), or watch the stages one by one with AgentView."
  );
}

export function mountPipeline(model, el, { env = {} } = {}) {
  const doc = el.ownerDocument || document;
  ensureStyles(doc);
  ensurePipelineStyles(doc);
  const pipelineId = String(trait(model, "pipeline_id", "") ?? "");
  const root = h("div", { class: "trm-pipeline-widget", dataset: { widget: "pipeline", pipeline: pipelineId, status: Status.CONNECTING } });
  el.append(root);

  const config = env.config !== undefined ? env.config : readPageConfig(doc);
  if (!hasExtension(config)) {
    root.dataset.status = Status.EXTENSION_MISSING;
    root.append(h("div", { class: "trm-pl" }, h("div", { class: "trm-pl-banner", role: "status", dataset: { bad: "" } }, needsServerText(pipelineId))));
    return () => root.remove();
  }

  const hubs = new StageHubs({ config, env });
  const beam = createConsole(hubs, null);
  const beamBox = h("div", { class: "trm trm-pl-beam", hidden: true }, beam.el);
  let selected = trait(model, "selected", null);

  function aim(id, fromModel = false) {
    selected = id;
    root.dataset.selected = id ?? "";
    view.setSelected(id);
    beam.setAgent(id);
    beamBox.hidden = !id;
    if (!fromModel && trait(model, "selected", null) !== id) {
      model.set("selected", id);
      model.save_changes();
    }
  }

  const view = createPipelineView(hubs, { pipelineId, onSelect: (id) => aim(id), selected });
  root.append(view.el, beamBox);

  let first = true;
  const poller = pollPipelines({
    baseUrl: normalizeBaseUrl(config.baseUrl),
    pipelineId,
    env,
    onReply: ({ status, detail, body }) => {
      root.dataset.status = status;
      view.setStatus(status, detail);
      if (status !== Status.LIVE) return;
      hubs.follow(body.stages.map((stage) => stage.id));
      view.update(body);
      // On first sight, with no stage of this pipeline picked, aim at its first
      // stage, so that a linked console has a target.
      if (first && body.stages.length && !body.stages.some((stage) => stage.id === selected)) aim(body.stages[0].id);
      first = false;
    },
  });

  const onSelected = () => aim(trait(model, "selected", null), true);
  model.on("change:selected", onSelected);
  if (selected) aim(selected, true);

  return () => {
    model.off("change:selected", onSelected);
    poller.stop();
    view.destroy();
    beam.destroy();
    hubs.close();
    root.remove();
  };
}

export default {
  render({ model, el }) {
    let cleanup = mountPipeline(model, el);
    const remount = () => {
      cleanup();
      cleanup = mountPipeline(model, el);
    };
    model.on("change:pipeline_id", remount);
    return () => {
      model.off("change:pipeline_id", remount);
      cleanup();
    };
  },
};
