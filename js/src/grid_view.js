// Every agent of a hub as a grid of tiles; tiles come and go with the agents.

import { Status } from "./connection.js";
import { batched, h, statusBanner } from "./dom.js";
import { createTile } from "./tile.js";

export function createGrid(hub, { log = "short", onSelect = null } = {}) {
  const banner = statusBanner();
  const grid = h("div", { class: "trm-grid", role: "list" });
  const empty = h("div", { class: "trm-empty" }, "Looking for agents…");
  const el = h("div", { class: "trm-grid-view", dataset: { agents: "0" } }, banner.el, grid, empty);
  const tiles = new Map();
  let selected = null;

  function select(id) {
    selected = id;
    for (const [tileId, tile] of tiles) tile.el.toggleAttribute("data-selected", tileId === id);
    if (onSelect) onSelect(id);
  }

  const reconcile = batched(() => {
    const ids = hub.ids();
    for (const [id, tile] of tiles) {
      if (!ids.includes(id)) {
        tile.destroy();
        tile.el.remove();
        tiles.delete(id);
      }
    }
    ids.forEach((id, index) => {
      let tile = tiles.get(id);
      if (!tile) {
        tile = createTile(hub, id, { log });
        tile.el.classList.add("trm-tile-enter");
        tile.el.setAttribute("role", "listitem");
        if (onSelect) {
          tile.el.addEventListener("click", () => select(id));
          tile.el.style.cursor = "pointer";
        }
        tiles.set(id, tile);
      }
      if (grid.children[index] !== tile.el) grid.insertBefore(tile.el, grid.children[index] ?? null);
    });
    el.dataset.agents = String(ids.length);
    const live = hub.status.status === Status.LIVE;
    const failed = [Status.EXTENSION_MISSING, Status.ACCESS_DENIED].includes(hub.status.status);
    empty.hidden = ids.length > 0 || failed;
    empty.textContent = live ? "No agents are being served right now." : "Looking for agents…";
    if (onSelect && (selected === null || !tiles.has(selected)) && ids.length) select(ids[0]);
    else if (selected !== null) tiles.get(selected)?.el.toggleAttribute("data-selected", true);
  });

  const showStatus = () => {
    banner.set(hub.status.status, hub.status.detail);
    el.dataset.status = hub.status.status;
    reconcile.schedule();
  };
  const offAgents = hub.on("agents", () => reconcile.schedule());
  const offStatus = hub.on("status", showStatus);
  showStatus();

  return {
    el,
    select,
    destroy() {
      offAgents();
      offStatus();
      reconcile.cancel();
      for (const tile of tiles.values()) tile.destroy();
      tiles.clear();
    },
  };
}
