import { defineConfig } from "vite";
import solid from "vite-plugin-solid";

/**
 * `pnpm --filter @probepilot/web dev`: hot reload on http://127.0.0.1:5173, with /trpc
 * proxied to the control plane (PROBEPILOT_URL, default the one `npm start` runs).
 * `vite build` writes web/dist, which the control plane serves at `/`.
 */
export default defineConfig({
  plugins: [solid()],
  server: {
    host: "127.0.0.1",
    port: 5173,
    proxy: { "/trpc": { target: process.env.PROBEPILOT_URL ?? "http://127.0.0.1:7070" } },
  },
  build: { outDir: "dist", sourcemap: true, target: "es2022", chunkSizeWarningLimit: 1024 },
});
