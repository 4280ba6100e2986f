// Where the widgets find out what page they run in: Jupyter's page config (or
// the dashboard's own) and the marker the extension injects into it. It
// decides whether a server extension is there to talk to at all, before any
// socket is opened. Pure: the document is a parameter.

export const PROTOCOL = 1;

const CONFIG_IDS = ["jupyter-config-data", "terrarium-config"];

/** Parse the JSON text of a page-config script element; null when it is not an object. */
export function parsePageConfig(text) {
  if (typeof text !== "string" || !text.trim()) return null;
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * The page config of the Jupyter page we run in (`<script id="jupyter-config-data">`),
 * or of the Terrarium dashboard page; null outside Jupyter (VS Code, Colab, marimo).
 */
export function readPageConfig(doc = globalThis.document) {
  if (!doc || typeof doc.getElementById !== "function") return null;
  for (const id of CONFIG_IDS) {
    const element = doc.getElementById(id);
    if (element) {
      const config = parsePageConfig(element.textContent);
      if (config) return config;
    }
  }
  return null;
}

/** The marker `{"version", "protocol"}` the extension injects, or null when absent. */
export function extensionMarker(config) {
  const marker = config && typeof config === "object" ? config.terrarium : null;
  if (!marker || typeof marker !== "object" || Array.isArray(marker)) return null;
  if (typeof marker.protocol !== "number") return null;
  return marker;
}

/** True when the page config says the Terrarium extension serves this page. */
export function hasExtension(config) {
  const marker = extensionMarker(config);
  return marker !== null && marker.protocol === PROTOCOL;
}
