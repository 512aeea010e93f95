#!/usr/bin/env node
// Runs the TypeScript entry through tsx's loader (no build step in this workspace).
import { register } from "tsx/esm/api";
register();
await import("../src/main.ts");
