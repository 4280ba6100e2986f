// Every agent of a hub as a grid of tiles; tiles come and go with the agents.
// A click (or Enter) on a tile selects it: the detail beside (or below) the
// tiles shows that agent's metabolism chart and full event log, and
// `onSelect` hears it (the dashboard aims its Beam console there).

import { Status } from "./status.js";
import { createDetail } from "./detail_view.js";
import { batched, h, statusBanner } from "./dom.js";
import { createTile } from "./tile.js";

export function createGrid(hub, { log = "short", onSelect = null, detail: withDetail = true } = {}) {
  const banner = statusBanner();
  const grid = h("div", { class: "trm-grid", role: "list" });
  const empty = h("div", { class: "trm-empty" }, "Looking for agents…");
  const detail = withDetail ? createDetail(hub) : null;
  const body = h("div", { class: "trm-grid-body" }, h("div", { class: "trm-grid-tiles" }, grid, empty), detail?.el);
  const el = h("div", { class: "trm-grid-view", dataset: { agents: "0" } }, banner.el, body);
  const tiles = new Map();
  const selectable = Boolean(onSelect || detail);
  let selected = null;

  function select(id) {
    selected = id;
    for (const [tileId, tile] of tiles) {
      tile.el.toggleAttribute("data-selected", tileId === id);
      if (selectable) tile.el.setAttribute("aria-current", String(tileId === id));
    }
    detail?.show(id);
    el.dataset.selected = id ?? "";
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
        if (selectable) {
          tile.el.classList.add("trm-tile--selectable");
          tile.el.tabIndex = 0;
          tile.el.title = `${id}: click to select`;
          tile.el.addEventListener("click", (event) => {
            // A click inside a form control is not a selection.
            if (event.target.closest?.("button, input, textarea, select, a")) return;
            select(id);
          });
          tile.el.addEventListener("keydown", (event) => {
            if ((event.key === "Enter" || event.key === " ") && event.target === tile.el) {
              event.preventDefault();
              select(id);
            }
          });
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
    if (selectable && (selected === null || !tiles.has(selected))) {
      if (ids.length) select(ids[0]);
      else if (selected !== null) select(null);
    } else if (selected !== null) tiles.get(selected)?.el.toggleAttribute("data-selected", true);
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
      detail?.destroy();
      for (const tile of tiles.values()) tile.destroy();
      tiles.clear();
    },
  };
}
