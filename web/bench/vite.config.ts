import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import solid from "vite-plugin-solid";

const here = fileURLToPath(new URL(".", import.meta.url));

/**
 * The two pages of `pnpm bench:ui` (see ui-bench.ts): the app's charts and bare
 * uPlot, built like the app (production mode, minified) into UI_BENCH_OUT.
 */
export default defineConfig({
  root: here,
  base: "./",
  logLevel: "warn",
  plugins: [solid()],
  build: {
    outDir: process.env.UI_BENCH_OUT ?? "dist",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 2048,
    // Readable function names in a profile when tracing (UI_BENCH_TRACE); minified like the app otherwise.
    minify: !process.env.UI_BENCH_TRACE,
    rolldownOptions: { input: { app: `${here}app.html`, bare: `${here}bare.html` } },
  },
});
