// Terrarium(): every agent as a live tile; agents appear and disappear as the
// server (GET api/agents every 10 s, and at once when a stream closes with
// 4004) or the kernel (`agents` messages, new agent ids in frames) says.
// Click a tile: the detail shows its chart and full event log.
// Traits: transport. The root carries data-agents (how many tiles) and data-status.

import { createGrid } from "./grid_view.js";
import { defineWidget } from "./widget.js";

export default defineWidget({
  name: "terrarium",
  mount(hub, _model, root) {
    const grid = createGrid(hub, { log: "short", detail: true });
    root.append(grid.el);
    const sync = () => {
      root.dataset.agents = String(hub.ids().length);
      root.dataset.status = hub.status.status;
    };
    const offs = [hub.on("agents", sync), hub.on("status", sync)];
    sync();
    return {
      destroy() {
        for (const off of offs) off();
        grid.destroy();
      },
    };
  },
});
