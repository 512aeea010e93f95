/** Served by the control plane at `/` until the SolidJS app lands: says what is running and how to use it. */
export const PLACEHOLDER_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ProbePilot</title>
<style>body{font:15px/1.5 system-ui,sans-serif;background:#0f1115;color:#e6e6e6;max-width:46rem;margin:3rem auto;padding:0 1rem}code{background:#1c1f26;padding:.1rem .3rem;border-radius:4px}a{color:#7cc4ff}</style>
</head><body>
<h1>ProbePilot control plane</h1>
<p>The control plane is running. The web UI is not built yet; use the CLI or the typed tRPC API at <code>/trpc</code>.</p>
<pre><code>PROBEPILOT_TOKEN=$(cat .probepilot/admin-token) pnpm probepilot agents list</code></pre>
<p>Health: <a href="/healthz">/healthz</a> · Metrics: <a href="/metrics">/metrics</a></p>
</body></html>`;
