import type { ApiClient } from "./client.ts";

/** Wrong use of the CLI itself (exit code 2), as opposed to a refused call (exit code 1). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** What a command gets: the typed API, its positional args and flags, and output helpers. */
export type CommandContext = {
  api: ApiClient;
  url: string;
  args: string[];
  flags: Record<string, string | undefined>;
  json: boolean;
  env: Record<string, string | undefined>;
  out: (text: string) => void;
  /** JSON for tools: one document on stdout. */
  print: (value: unknown) => void;
  requireArg: (index: number, what: string) => string;
  /** Ends long-running commands (`query --watch`) besides Ctrl-C. */
  signal?: AbortSignal;
};
