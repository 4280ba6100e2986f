// PerturbConsole(agent_id): send perturbations through the Beam (or the
// kernel) and list every reply. Traits: agent_id, transport.
// The root carries data-sent and data-replies (final replies received).

import { createConsole } from "./console_view.js";
import { defineWidget } from "./widget.js";

export default defineWidget({
  name: "perturb-console",
  observe: false,
  mount(hub, _model, root) {
    const view = createConsole(hub, hub.agentId);
    root.append(view.el);
    const observer = new MutationObserver(() => {
      root.dataset.sent = view.el.dataset.sent;
      root.dataset.replies = view.el.dataset.replies;
    });
    observer.observe(view.el, { attributes: true, attributeFilter: ["data-sent", "data-replies"] });
    root.dataset.sent = "0";
    root.dataset.replies = "0";
    return {
      destroy() {
        observer.disconnect();
        view.destroy();
      },
    };
  },
});
