// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Framed output on stdout (bpf/README.md, "Framing"): an 8-byte header
 * (u32 payload length, u16 type, u16 map index, host byte order) and the
 * payload. One buffer collects the frames of a loop iteration so they leave
 * in a few large writes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "buf.h"
#include "frames.h"

/* Flush stdout early when this much is buffered (a burst of ring buffer events). */
#define OUT_FLUSH_THRESHOLD (256u << 10)

static struct buf out;
static bool out_broken;

void frames_flush(void)
{
	size_t off = 0;
	while (!out_broken && off < out.len) {
		ssize_t n = write(STDOUT_FILENO, out.data + off, out.len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "ppbpf: writing to stdout: %s; stopping\n", strerror(errno));
			out_broken = true;
			break;
		}
		off += (size_t)n;
	}
	out.len = 0;
}

bool frames_broken(void)
{
	return out_broken;
}

void frames_free(void)
{
	buf_free(&out);
}

void frame(enum frame_type type, uint16_t map_index, const void *payload, size_t len)
{
	struct {
		uint32_t len;
		uint16_t type;
		uint16_t map_index;
	} __attribute__((packed)) hdr = { (uint32_t)len, (uint16_t)type, map_index };

	if (out_broken)
		return;
	buf_put(&out, &hdr, sizeof(hdr));
	buf_put(&out, payload, len);
	if (out.len >= OUT_FLUSH_THRESHOLD)
		frames_flush();
}

void emit_error(const char *stage, int err, const char *program, const char *verifier_log,
		const char *fmt, ...)
{
	char message[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	/* The agent reads the frame; a human running ppbpf by hand reads stderr. */
	fprintf(stderr, "ppbpf: %s: %s\n", stage, message);
	if (verifier_log)
		fprintf(stderr, "ppbpf: end of the verifier log:\n%s\n", verifier_log);

	struct buf j = { 0 };
	buf_puts(&j, "{\"stage\":");
	buf_json_str(&j, stage);
	buf_puts(&j, ",\"message\":");
	buf_json_str(&j, message);
	if (err > 0)
		buf_printf(&j, ",\"errno\":%d", err);
	if (program) {
		buf_puts(&j, ",\"program\":");
		buf_json_str(&j, program);
	}
	if (verifier_log) {
		buf_puts(&j, ",\"verifierLog\":");
		buf_json_str(&j, verifier_log);
	}
	buf_puts(&j, "}");
	frame(FRAME_ERROR, 0, j.data, j.len);
	frames_flush();
	buf_free(&j);
}
