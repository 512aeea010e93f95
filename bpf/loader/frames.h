/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the agent reads from ppbpf: length-prefixed frames on stdout and the
 * exit code (the contract is bpf/README.md; the agent's side is
 * agent/src/probes/bpf/frames.ts and loader-process.ts).
 */
#ifndef PPBPF_FRAMES_H
#define PPBPF_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum frame_type {
	FRAME_READY = 1,
	FRAME_ERROR = 2,
	FRAME_EVENT = 3,
	FRAME_MAP_DUMP = 4,
	FRAME_INTERVAL = 5,
};

enum exit_code { EXIT_OK = 0, EXIT_FAILURE_LOAD = 1, EXIT_BAD_ARGS = 2 };

/* Queue one frame: the 8-byte header, then len bytes of payload. Frames are
 * buffered and written by frames_flush() (or early, when a burst of events
 * has filled the buffer). */
void frame(enum frame_type type, uint16_t map_index, const void *payload, size_t len);
/* Write what is queued to stdout. */
void frames_flush(void);
/* True once a write to stdout failed (the agent went away): from then on
 * frames are dropped and the event loop stops. */
bool frames_broken(void);
void frames_free(void);

/* ERROR frame {"stage","message","errno"?,"program"?,"verifierLog"?}, sent
 * at once; the message (and the verifier log) also go to stderr, for a human
 * running ppbpf by hand. err is a positive errno value, 0 to leave it out;
 * program and verifier_log may be NULL. */
__attribute__((format(printf, 5, 6)))
void emit_error(const char *stage, int err, const char *program, const char *verifier_log,
		const char *fmt, ...);

#endif /* PPBPF_FRAMES_H */
