import { spawn, type ChildProcess } from "node:child_process";
import { z } from "zod";
import { decodeMapDump, FrameReader, FrameType, type Frame, type MapDump } from "./frames.ts";

const ClockSchema = z.object({ monotonicNs: z.number(), realtimeNs: z.number() });

export const LoaderReadySchema = z.object({
  programs: z.array(z.object({ name: z.string(), section: z.string(), id: z.number() })),
  maps: z.array(z.object({ index: z.number(), name: z.string(), type: z.union([z.string(), z.number()]), keySize: z.number(), valueSize: z.number(), perCpu: z.boolean() })),
  ncpus: z.number(),
  clock: ClockSchema,
});
export type LoaderReady = z.infer<typeof LoaderReadySchema>;

export const LoaderErrorSchema = z.object({
  stage: z.string(),
  message: z.string(),
  errno: z.number().optional(),
  program: z.string().optional(),
  verifierLog: z.string().optional(),
});
export type LoaderErrorInfo = z.infer<typeof LoaderErrorSchema>;

export const LoaderIntervalSchema = ClockSchema.extend({
  programs: z.array(z.object({ name: z.string(), id: z.number(), runTimeNs: z.number(), runCount: z.number() })),
  cpuUserUs: z.number(),
  cpuSystemUs: z.number(),
  maxRssKb: z.number(),
  rssKb: z.number(),
});
export type LoaderInterval = z.infer<typeof LoaderIntervalSchema>;

/** A structured loader failure: the stage, the program and, for a verifier rejection, why. */
export class LoaderError extends Error {
  constructor(readonly info: LoaderErrorInfo) {
    const where = info.program ? ` (program ${info.program})` : "";
    const errno = info.errno !== undefined ? ` [errno ${info.errno}]` : "";
    const log = info.verifierLog ? `\nverifier log (end):\n${info.verifierLog}` : "";
    super(`ppbpf ${info.stage} failed${where}: ${info.message}${errno}${log}`);
    this.name = "LoaderError";
  }
}

export type LoaderArgs = {
  /** The `ppbpf` binary. */
  binary: string;
  object: string;
  /** rodata knobs set before load. */
  set?: Record<string, string | number | bigint>;
  ringbufs?: string[];
  /** Maps dumped every interval; `drain` deletes what was read. */
  dumps?: { map: string; drain: boolean }[];
  intervalMs: number;
  perfEvent?: { program: string; frequencyHz: number };
};

export type LoaderHandlers = {
  /** READY, before any frame after it is handled (events in the same read need the clock it carries). */
  onReady?: (ready: LoaderReady) => void;
  onEvent: (map: string, record: Buffer) => void;
  onMapDump: (map: string, dump: MapDump) => void;
  onInterval: (interval: LoaderInterval) => void;
  /** The loader went away after it was ready (crash, kill). */
  onExit: (error: Error) => void;
  /** A non-fatal error the loader reported while running (a map it could not dump): it goes on. */
  onWarning?: (error: Error) => void;
};

/** A loader not READY by then is killed and the start fails (a hung attach must not block reconciles forever). */
const START_TIMEOUT_MS = 60_000;
/** How long `stop()` waits after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 3000;
/** stderr kept for error messages: libbpf's own diagnostics. */
const STDERR_TAIL_BYTES = 4096;

export function loaderArgv(args: LoaderArgs): string[] {
  const argv = ["--object", args.object, "--interval-ms", String(args.intervalMs)];
  for (const [name, value] of Object.entries(args.set ?? {})) argv.push("--set", `${name}=${value}`);
  for (const map of args.ringbufs ?? []) argv.push("--ringbuf", map);
  for (const d of args.dumps ?? []) argv.push("--dump", d.drain ? `${d.map}:drain` : d.map);
  if (args.perfEvent) argv.push("--perf-event", `${args.perfEvent.program}:${args.perfEvent.frequencyHz}`);
  return argv;
}

/**
 * One `ppbpf` child process: loads a probe object, then streams its frames to
 * the handlers. Its stdin is a pipe the loader watches: when the agent dies the
 * pipe closes and the loader detaches and exits, so it never outlives the agent.
 */
export class LoaderProcess {
  private child: ChildProcess | null = null;
  private ready: LoaderReady | null = null;
  private mapNames: string[] = [];
  private stderrTail = "";
  private stopping = false;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly args: LoaderArgs,
    private readonly handlers: LoaderHandlers,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get readyInfo(): LoaderReady | null {
    return this.ready;
  }

  /** Spawn and wait for READY; rejects with a `LoaderError` (or the exit status and stderr) when the probe cannot load. */
  start(): Promise<LoaderReady> {
    return new Promise<LoaderReady>((resolve, reject) => {
      const child = spawn(this.args.binary, loaderArgv(this.args), { stdio: ["pipe", "pipe", "pipe"] });
      this.child = child;
      const frames = new FrameReader();
      let settled = false;
      let lastError: LoaderError | null = null;
      const fail = (err: Error) => {
        if (!settled) {
          settled = true;
          reject(err);
        } else if (!this.stopping) {
          this.handlers.onExit(err);
        }
      };
      this.exited = new Promise((done) => child.once("close", () => done()));
      const startTimer = setTimeout(() => {
        if (settled) return;
        child.kill("SIGKILL");
        fail(new Error(`ppbpf was not ready after ${START_TIMEOUT_MS / 1000} s: killed`));
      }, START_TIMEOUT_MS);
      this.exited.then(() => clearTimeout(startTimer));
      child.stdin!.on("error", () => {}); // EPIPE after the loader exited: its exit is reported below
      child.stderr!.setEncoding("utf8");
      child.stderr!.on("data", (text: string) => {
        this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_BYTES);
      });
      child.stdout!.on("data", (chunk: Buffer) => {
        let batch: Frame[];
        try {
          batch = frames.push(chunk);
        } catch (err) {
          child.kill("SIGKILL");
          return fail(err as Error);
        }
        for (const frame of batch) {
          try {
            if (frame.type === FrameType.READY) {
              this.ready = LoaderReadySchema.parse(JSON.parse(frame.payload.toString("utf8")));
              this.mapNames = [];
              for (const m of this.ready.maps) this.mapNames[m.index] = m.name;
              this.handlers.onReady?.(this.ready);
              clearTimeout(startTimer);
              settled = true;
              resolve(this.ready);
            } else if (frame.type === FrameType.ERROR) {
              const error = new LoaderError(LoaderErrorSchema.parse(JSON.parse(frame.payload.toString("utf8"))));
              // `runtime` errors are the loader's non-fatal ones (bpf/README.md): it keeps running.
              if (error.info.stage === "runtime") this.handlers.onWarning?.(error);
              else lastError = error;
            } else if (frame.type === FrameType.EVENT) {
              this.handlers.onEvent(this.mapName(frame.mapIndex), frame.payload);
            } else if (frame.type === FrameType.MAP_DUMP) {
              this.handlers.onMapDump(this.mapName(frame.mapIndex), decodeMapDump(frame.payload));
            } else if (frame.type === FrameType.INTERVAL) {
              this.handlers.onInterval(LoaderIntervalSchema.parse(JSON.parse(frame.payload.toString("utf8"))));
            }
          } catch (err) {
            // A frame we cannot decode is the loader's (or a decoder's) bug: report it and keep the stream going.
            this.stderrTail = `${this.stderrTail}\nframe type ${frame.type}: ${(err as Error).message}`.slice(-STDERR_TAIL_BYTES);
          }
        }
      });
      child.once("error", (err) => fail(new Error(`cannot run ${this.args.binary}: ${err.message}`)));
      child.once("close", (code, signal) => {
        if (this.stopping && settled) return;
        const status = signal ? `killed by ${signal}` : `exited with code ${code}`;
        const stderr = this.stderrTail.trim() ? `; stderr: ${this.stderrTail.trim().split("\n").slice(-8).join(" | ")}` : "";
        fail(lastError ?? new Error(`ppbpf ${status}${settled ? " while running" : " before the probe was ready"}${stderr}`));
      });
    });
  }

  /** SIGTERM (the loader detaches and exits), SIGKILL after a grace period. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    // Even when it has exited already, wait for `close`: its last frames may still be in the pipe.
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  private mapName(index: number): string {
    return this.mapNames[index] ?? `#${index}`;
  }
}
