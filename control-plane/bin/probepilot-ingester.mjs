#!/usr/bin/env node
// `probepilot-ingester`: a standalone telemetry ingester (tsx loader, no build step).
import { register } from "tsx/esm/api";
register();
await import("../src/ingest/main.ts");
