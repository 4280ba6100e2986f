// PurgatoryPanel(agent_id=None): pending semaphores of one agent (or of all)
// as cards to answer or cancel. Traits: agent_id (null = every agent), transport.
// The root carries data-pending (how many cards).

import { createPurgatory } from "./purgatory_view.js";
import { defineWidget } from "./widget.js";

export default defineWidget({
  name: "purgatory-panel",
  mount(hub, _model, root) {
    const view = createPurgatory(hub, hub.agentId);
    root.append(view.el);
    const observer = new MutationObserver(() => {
      root.dataset.pending = view.el.dataset.pending;
    });
    observer.observe(view.el, { attributes: true, attributeFilter: ["data-pending"] });
    root.dataset.pending = "0";
    return {
      destroy() {
        observer.disconnect();
        view.destroy();
      },
    };
  },
});
