// AgentView(agent_id): one agent's DensityField tile, its four metabolism
// figures, sparkline, a chart of its last five minutes of flow, pressure and
// queue depth, and its event log (filter, search, pause; a click on a line
// shows its whole event). Traits: agent_id, transport.
// The root carries data-agent, data-status and data-events: the agent's own
// event count, the seq of its latest event (STATUS `seq`, then each frame's),
// the same number the tile shows, not the frames this view happened to receive.

import { statusBanner } from "./dom.js";
import { createTile } from "./tile.js";
import { defineWidget } from "./widget.js";

export function mountAgentView(hub, root) {
  const agentId = hub.agentId;
  const banner = statusBanner();
  root.dataset.agent = agentId ?? "";
  root.dataset.events = "0";
  root.append(banner.el);
  if (agentId === null) {
    banner.set("unknown agent", "no agent_id given", "");
    return { destroy() {} };
  }
  const tile = createTile(hub, agentId, {
    log: "full",
    chart: true,
    onEvents: (seq) => {
      root.dataset.events = String(seq);
    },
  });
  root.append(tile.el);
  const show = () => {
    banner.set(hub.status.status, hub.status.detail, agentId);
    root.dataset.status = hub.status.status;
  };
  const off = hub.on("status", show);
  show();
  return {
    destroy() {
      off();
      tile.destroy();
    },
  };
}

export default defineWidget({ name: "agent-view", mount: (hub, _model, root) => mountAgentView(hub, root) });
