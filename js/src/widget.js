// anywidget glue shared by the four widgets: one AgentHub per model, set up
// in `initialize` (so frames that arrive before a view exists are kept) and
// shared by every view of that model; rebuilt when `agent_id` or `transport`
// change. Traits read: `agent_id` (str or null), `transport` ("auto" | "server" | "comm").

import { AgentHub } from "./hub.js";
import { ensureStyles, h } from "./dom.js";

// Keyed by the widget's `_instance` trait: anywidget gives `initialize` and each
// `render` a different proxy of the same model, so the proxy cannot be the key.
const holders = new Map();

function keyOf(model) {
  const key = trait(model, "_instance", null);
  return typeof key === "string" && key ? key : null;
}

function trait(model, name, fallback) {
  try {
    const value = model.get(name);
    return value === undefined ? fallback : value;
  } catch {
    return fallback;
  }
}

class HubHolder {
  constructor(model, options) {
    this.model = model;
    this.options = options;
    this.views = new Set();
    this.hub = this._create();
    this._changed = () => this.replace();
    model.on("change:agent_id", this._changed);
    model.on("change:transport", this._changed);
  }

  _create() {
    const agentId = trait(this.model, "agent_id", null);
    return new AgentHub({
      agentId: agentId === "" ? null : agentId,
      transport: trait(this.model, "transport", "auto"),
      model: this.model,
      observe: this.options.observe !== false,
    }).start();
  }

  replace() {
    this.hub.close();
    this.hub = this._create();
    for (const remount of this.views) remount();
  }

  close() {
    this.model.off("change:agent_id", this._changed);
    this.model.off("change:transport", this._changed);
    this.hub.close();
  }
}

/**
 * An anywidget module: `mount(hub, model, root)` builds a view into `root`
 * and returns `{destroy}`.
 */
export function defineWidget({ name, mount, observe = true }) {
  const options = { observe };
  return {
    initialize({ model }) {
      const key = keyOf(model);
      if (key === null) return undefined; // no key: each view keeps its own hub
      const holder = new HubHolder(model, options);
      holders.set(key, holder);
      return () => {
        holder.close();
        if (holders.get(key) === holder) holders.delete(key);
      };
    },
    render({ model, el }) {
      ensureStyles(el.ownerDocument || document);
      const key = keyOf(model);
      let holder = key === null ? undefined : holders.get(key);
      const own = !holder; // a front end that skipped initialize, or a model without a key
      if (own) holder = new HubHolder(model, options);
      const root = h("div", { class: `trm trm-widget trm-${name}`, dataset: { widget: name } });
      el.append(root);
      let view = null;
      const remount = () => {
        if (view) view.destroy();
        root.replaceChildren();
        view = mount(holder.hub, model, root);
      };
      holder.views.add(remount);
      remount();
      return () => {
        holder.views.delete(remount);
        if (view) view.destroy();
        root.remove();
        if (own) holder.close();
      };
    },
  };
}
