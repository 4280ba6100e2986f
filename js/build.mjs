// Bundle the widgets and the dashboard page with esbuild:
//   terrarium/static/{agent_view,terrarium_grid,perturb_console,purgatory_panel,pipeline}.js
//   terrarium/static/terrarium.css (the same styles the bundles inject; usable as `_css`)
//   jupyter_extension/static/dashboard.js
// Each bundle is one self-contained ES module, as anywidget's `_esm` wants.

import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const widgets = join(root, "terrarium", "static");
const extension = join(root, "jupyter_extension", "static");
const watch = process.argv.includes("--watch");

const common = {
  bundle: true,
  format: "esm",
  target: ["es2020"],
  platform: "browser",
  loader: { ".css": "text" },
  legalComments: "none",
  charset: "utf8",
  minify: process.argv.includes("--minify"),
  logLevel: "info",
  banner: { js: "// Terrarium widgets: built from js/src by `npm run build`; edit the sources, not this file." },
};

await mkdir(widgets, { recursive: true });
await mkdir(extension, { recursive: true });

const builds = [
  {
    ...common,
    entryPoints: {
      agent_view: join(here, "src", "agent_view.js"),
      terrarium_grid: join(here, "src", "terrarium_grid.js"),
      perturb_console: join(here, "src", "perturb_console.js"),
      purgatory_panel: join(here, "src", "purgatory_panel.js"),
      pipeline: join(here, "src", "pipeline.js"),
    },
    outdir: widgets,
  },
  { ...common, entryPoints: [join(here, "src", "dashboard.js")], outfile: join(extension, "dashboard.js") },
];

if (watch) {
  const { context } = await import("esbuild");
  for (const options of builds) await (await context(options)).watch();
  // The stylesheet is a plain copy: follow it too, so the widgets' `_css` stays current.
  const { watch: follow } = await import("node:fs");
  follow(join(here, "src", "styles.css"), () =>
    copyFile(join(here, "src", "styles.css"), join(widgets, "terrarium.css")).catch(console.error),
  );
} else {
  await Promise.all(builds.map((options) => build(options)));
}
await copyFile(join(here, "src", "styles.css"), join(widgets, "terrarium.css"));
