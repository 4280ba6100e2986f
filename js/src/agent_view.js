// AgentView(agent_id): one agent's DensityField tile, vitals, sparkline and
// scrolling event log. Traits: agent_id, transport.
// The root carries data-agent, data-status and data-events (the event count).

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
    onEvents: (count) => {
      root.dataset.events = String(count);
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
