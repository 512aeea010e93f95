#!/usr/bin/env node
// `probepilot-control-plane`: the control plane as its own process (tsx loader, no build step).
import { register } from "tsx/esm/api";
register();
await import("../src/main.ts");
