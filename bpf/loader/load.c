// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Load, and say why a load failed.
 *
 * libbpf loads every program with log_level 0 and, only when a load fails,
 * retries that program at log_level 1 into the log buffer it was given. With
 * one buffer per program, the one non-empty buffer afterwards names the
 * program the verifier rejected. A failure before the verifier (a CO-RE
 * relocation, a map) leaves no log: then libbpf's own warnings, captured while
 * loading, say what and where.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "frames.h"
#include "load.h"

/* Per-program verifier log buffer. Allocated with calloc, so pages the kernel
 * never writes (every successful load: libbpf only asks for a log when it
 * retries a failed load) are never touched and cost no memory. */
#define VERIFIER_LOG_SIZE (4u << 20)
/* How much of the log's end goes into the ERROR frame: the verdict is last. */
#define VERIFIER_LOG_TAIL 4096

static bool verbose;
static bool capture_warnings;
static char first_prog_warning[512]; /* first "prog '...'" warning while capturing */
static char last_warning[512];

/* libbpf prefixes its messages with this; the frame does not need it. */
#define LIBBPF_PREFIX "libbpf: "

static void keep_first_line(char *dst, size_t size, const char *src)
{
	if (strncmp(src, LIBBPF_PREFIX, strlen(LIBBPF_PREFIX)) == 0)
		src += strlen(LIBBPF_PREFIX);
	size_t n = strcspn(src, "\n");
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	va_list copy;
	va_copy(copy, ap);
	int n = vfprintf(stderr, fmt, ap);
	if (level == LIBBPF_WARN && capture_warnings) {
		char line[4096];
		vsnprintf(line, sizeof(line), fmt, copy);
		keep_first_line(last_warning, sizeof(last_warning), line);
		if (!first_prog_warning[0] && strstr(line, "prog '"))
			keep_first_line(first_prog_warning, sizeof(first_prog_warning), line);
	}
	va_end(copy);
	return n;
}

void setup_libbpf_log(bool v)
{
	verbose = v;
	libbpf_set_print(libbpf_print);
}

/* The end of a verifier log, starting at a line boundary so it reads cleanly. */
static const char *log_tail(const char *log)
{
	size_t len = strnlen(log, VERIFIER_LOG_SIZE);
	const char *tail = log;
	if (len > VERIFIER_LOG_TAIL) {
		tail = log + len - VERIFIER_LOG_TAIL;
		const char *nl = memchr(tail, '\n', (size_t)(log + len - tail));
		if (nl && nl + 1 < log + len)
			tail = nl + 1;
	}
	return tail;
}

/* The ERROR frame for a failed bpf_object__load() (err < 0). */
static void report_load_error(struct bpf_object *obj, char **logs, int err)
{
	const char *failed = NULL, *log = NULL;
	struct bpf_program *prog;
	int i = 0;

	/* the program with a verifier log is the one rejected */
	bpf_object__for_each_program(prog, obj) {
		if (logs[i] && logs[i][0]) {
			failed = bpf_program__name(prog);
			log = logs[i];
			break;
		}
		i++;
	}
	/* No verifier log (a CO-RE relocation or a map failed before the kernel
	 * saw the program): take the name from libbpf's warning. */
	char name[128] = "";
	if (!failed && first_prog_warning[0]) {
		const char *p = strstr(first_prog_warning, "prog '");
		if (p && sscanf(p, "prog '%127[^']'", name) == 1)
			failed = name;
	}
	const char *why = first_prog_warning[0] ? first_prog_warning : last_warning;
	emit_error("load", -err, failed, log ? log_tail(log) : NULL, "%s",
		   why[0] ? why : strerror(-err));
}

int load_object(struct bpf_object *obj)
{
	struct bpf_program *prog;
	char **logs = NULL;
	int nprogs = 0, i, err;

	/* one verifier log buffer per program */
	bpf_object__for_each_program(prog, obj)
		nprogs++;
	logs = calloc((size_t)nprogs + 1, sizeof(*logs));
	if (!logs) {
		emit_error("load", ENOMEM, NULL, NULL, "out of memory");
		return -1;
	}
	i = 0;
	bpf_object__for_each_program(prog, obj) {
		logs[i] = calloc(1, VERIFIER_LOG_SIZE);
		/* without its buffer a rejection still fails, with libbpf's warning */
		if (logs[i] && bpf_program__set_log_buf(prog, logs[i], VERIFIER_LOG_SIZE)) {
			free(logs[i]);
			logs[i] = NULL;
		}
		i++;
	}

	/* load and verify, keeping libbpf's warnings */
	capture_warnings = true;
	err = bpf_object__load(obj);
	capture_warnings = false;
	if (err)
		report_load_error(obj, logs, err);

	for (i = 0; i < nprogs; i++)
		free(logs[i]);
	free(logs);
	return err ? -1 : 0;
}
