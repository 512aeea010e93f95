// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ppbpf — ProbePilot's eBPF loader.
 *
 * The agent runs one ppbpf per probe. It opens a CO-RE object, sets its
 * `const volatile` knobs, loads and attaches every program, then streams what
 * the probe produces to stdout as length-prefixed frames (see bpf/README.md,
 * which is the contract this file implements):
 *
 *   READY     once, after everything is attached
 *   EVENT     one ring buffer record, verbatim
 *   MAP_DUMP  one --dump map, every interval
 *   INTERVAL  clocks, per-program kernel run time, our own resource usage
 *   ERROR     what went wrong, before a non-zero exit (or, stage "runtime",
 *             a non-fatal problem while running)
 *
 * It stops on SIGTERM/SIGINT/SIGHUP or when stdin reaches EOF: the agent holds
 * the write end of our stdin, so if the agent dies we die with it and the
 * kernel never keeps orphaned probes attached.
 *
 * Built against libbpf 1.1 (Debian 12's libbpf-dev); nothing newer is used.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

enum frame_type {
	FRAME_READY = 1,
	FRAME_ERROR = 2,
	FRAME_EVENT = 3,
	FRAME_MAP_DUMP = 4,
	FRAME_INTERVAL = 5,
};

enum exit_code { EXIT_OK = 0, EXIT_FAILURE_LOAD = 1, EXIT_BAD_ARGS = 2 };

/* Per-program verifier log buffer. Allocated with calloc, so pages the kernel
 * never writes (every successful load: libbpf only asks for a log when it
 * retries a failed load) are never touched and cost no memory. */
#define VERIFIER_LOG_SIZE (4u << 20)
/* How much of the log's end goes into the ERROR frame: the verdict is last. */
#define VERIFIER_LOG_TAIL 4096
/* Flush stdout early when this much is buffered (a burst of ring buffer events). */
#define OUT_FLUSH_THRESHOLD (256u << 10)

/* ------------------------------------------------------------------------ */
/* Growable byte buffer, used for stdout, JSON payloads and map dumps.      */

struct buf {
	char *data;
	size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p) {
		/* Nothing sensible to report to: the frame itself would need memory. */
		fprintf(stderr, "ppbpf: out of memory (%zu bytes)\n", cap);
		exit(EXIT_FAILURE_LOAD);
	}
	b->data = p;
	b->cap = cap;
}

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return; /* p may be NULL (an empty buffer) */
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		buf_put(b, small, (size_t)n);
		return;
	}
	buf_reserve(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and out-of-range code points. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* Append s[0..n) as a JSON string literal. Invalid UTF-8 (a verifier log cut
 * mid-character, a strange path) becomes U+FFFD so the payload always parses. */
static void buf_json_strn(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	buf_put(b, "\"", 1);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			buf_put(b, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			switch (c) {
			case '\n': buf_puts(b, "\\n"); break;
			case '\t': buf_puts(b, "\\t"); break;
			case '\r': buf_puts(b, "\\r"); break;
			default: buf_printf(b, "\\u%04x", c); break;
			}
			i++;
		} else {
			size_t len = utf8_seq_len(p + i, n - i);
			if (len == 0) {
				buf_puts(b, "\\ufffd");
				i++;
			} else {
				buf_put(b, p + i, len);
				i += len;
			}
		}
	}
	buf_put(b, "\"", 1);
}

static void buf_json_str(struct buf *b, const char *s)
{
	buf_json_strn(b, s ? s : "", s ? strlen(s) : 0);
}

/* ------------------------------------------------------------------------ */
/* Framed output on stdout.                                                 */

static struct buf out;
/* Set once a write to stdout fails (the agent went away): from then on
 * frames are dropped and the main loop exits. */
static bool out_broken;

static void out_flush(void)
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

/* Start a frame whose payload (len bytes) the caller appends to `out` next. */
static void frame_header(enum frame_type type, uint16_t map_index, size_t len)
{
	struct {
		uint32_t len;
		uint16_t type;
		uint16_t map_index;
	} __attribute__((packed)) hdr = { (uint32_t)len, (uint16_t)type, map_index };
	buf_put(&out, &hdr, sizeof(hdr));
}

static void frame(enum frame_type type, uint16_t map_index, const void *payload, size_t len)
{
	if (out_broken)
		return;
	frame_header(type, map_index, len);
	buf_put(&out, payload, len);
	if (out.len >= OUT_FLUSH_THRESHOLD)
		out_flush();
}

/* ERROR frame: {"stage","message","errno"?,"program"?,"verifierLog"?}.
 * err is a positive errno value, 0 to leave it out. */
__attribute__((format(printf, 5, 6)))
static void emit_error(const char *stage, int err, const char *program, const char *verifier_log,
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
	out_flush();
	free(j.data);
}

/* ------------------------------------------------------------------------ */
/* libbpf diagnostics: to stderr, and the load-time warnings kept so an     */
/* ERROR frame can say why a load failed that never reached the verifier    */
/* (a CO-RE relocation, a map creation).                                    */

static bool verbose;
static bool capture_warnings;
static char first_prog_warning[512]; /* first "prog '...'" warning while capturing */
static char last_warning[512];

static void keep_first_line(char *dst, size_t size, const char *src)
{
	/* libbpf prefixes its messages with "libbpf: "; the frame does not need it. */
	if (strncmp(src, "libbpf: ", 8) == 0)
		src += 8;
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

/* ------------------------------------------------------------------------ */
/* Command line.                                                            */

struct set_arg {
	const char *name;
	const char *value;
};

struct dump_arg {
	const char *name;
	bool drain;
	struct bpf_map *map;
	uint16_t index;
	/* Kernels without BPF_MAP_LOOKUP_AND_DELETE_ELEM for hash maps (< 5.14)
	 * make us fall back to lookup + delete; remembered after the first miss. */
	bool no_lookup_and_delete;
	/* A runtime ERROR frame is sent once per map, not every interval. */
	bool error_reported;
};

struct ringbuf_arg {
	const char *name;
	struct bpf_map *map;
	uint16_t index;
};

struct perf_arg {
	const char *prog_name;
	unsigned long freq;
	struct bpf_program *prog;
};

struct options {
	const char *object;
	struct set_arg *sets;
	int nsets;
	struct ringbuf_arg *ringbufs;
	int nringbufs;
	struct dump_arg *dumps;
	int ndumps;
	struct perf_arg *perfs;
	int nperfs;
	unsigned long interval_ms;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ppbpf --object PATH.bpf.o [--set NAME=VALUE]... [--ringbuf MAP]...\n"
		"             [--dump MAP[:drain]]... [--interval-ms N] [--perf-event PROG:FREQ]...\n"
		"             [--verbose]\n"
		"Loads and attaches a CO-RE eBPF object and streams its output to stdout as frames\n"
		"(see bpf/README.md). Stops on SIGTERM/SIGINT or when stdin reaches EOF.\n");
}

/* Parse a whole decimal number into *out; false if s is not one. */
static bool parse_ulong(const char *s, unsigned long *result)
{
	if (!*s || *s == '-' || *s == '+')
		return false;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end)
		return false;
	*result = v;
	return true;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option long_opts[] = {
		{ "object", required_argument, NULL, 'o' },
		{ "set", required_argument, NULL, 's' },
		{ "ringbuf", required_argument, NULL, 'r' },
		{ "dump", required_argument, NULL, 'd' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "perf-event", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* No option can occur more often than there are arguments. */
	o->sets = calloc((size_t)argc, sizeof(*o->sets));
	o->ringbufs = calloc((size_t)argc, sizeof(*o->ringbufs));
	o->dumps = calloc((size_t)argc, sizeof(*o->dumps));
	o->perfs = calloc((size_t)argc, sizeof(*o->perfs));
	if (!o->sets || !o->ringbufs || !o->dumps || !o->perfs) {
		emit_error("args", ENOMEM, NULL, NULL, "out of memory");
		return -1;
	}
	o->interval_ms = 1000;

	opterr = 0; /* we report errors ourselves, as frames */
	int c;
	while ((c = getopt_long(argc, argv, "+:", long_opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->object = optarg;
			break;
		case 's': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				emit_error("args", EINVAL, NULL, NULL, "--set %s: expected NAME=VALUE", optarg);
				return -1;
			}
			*eq = '\0';
			o->sets[o->nsets++] = (struct set_arg){ optarg, eq + 1 };
			break;
		}
		case 'r':
			o->ringbufs[o->nringbufs++].name = optarg;
			break;
		case 'd': {
			struct dump_arg *d = &o->dumps[o->ndumps++];
			char *colon = strrchr(optarg, ':');
			if (colon) {
				if (strcmp(colon, ":drain") != 0) {
					emit_error("args", EINVAL, NULL, NULL,
						   "--dump %s: the only suffix is :drain", optarg);
					return -1;
				}
				*colon = '\0';
				d->drain = true;
			}
			d->name = optarg;
			break;
		}
		case 'i':
			if (!parse_ulong(optarg, &o->interval_ms) || o->interval_ms == 0 ||
			    o->interval_ms > 24ul * 3600 * 1000) {
				emit_error("args", EINVAL, NULL, NULL,
					   "--interval-ms %s: expected milliseconds, 1 to 86400000", optarg);
				return -1;
			}
			break;
		case 'p': {
			struct perf_arg *p = &o->perfs[o->nperfs++];
			char *colon = strrchr(optarg, ':');
			if (!colon || colon == optarg || !parse_ulong(colon + 1, &p->freq) || p->freq == 0 ||
			    p->freq > 100000) {
				emit_error("args", EINVAL, NULL, NULL,
					   "--perf-event %s: expected PROG:FREQ with FREQ in Hz (1 to 100000)",
					   optarg);
				return -1;
			}
			*colon = '\0';
			p->prog_name = optarg;
			break;
		}
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stderr); /* stdout carries only frames */
			exit(EXIT_OK);
		case ':':
			emit_error("args", EINVAL, NULL, NULL, "%s needs a value", argv[optind - 1]);
			return -1;
		default:
			emit_error("args", EINVAL, NULL, NULL, "unknown option %s", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		emit_error("args", EINVAL, NULL, NULL, "unexpected argument %s", argv[optind]);
		return -1;
	}
	if (!o->object) {
		emit_error("args", EINVAL, NULL, NULL, "--object is required");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* --set: write a .rodata variable before load, found through BTF.          */

static const struct btf_type *skip_mods(const struct btf *btf, __u32 id)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	while (t && (btf_is_mod(t) || btf_is_typedef(t)))
		t = btf__type_by_id(btf, t->type);
	return t;
}

/* Parse VALUE as an integer of `size` bytes: decimal or 0x-hex, negative only
 * when signed, range-checked. Stores it in host byte order at dst. */
static bool parse_int_value(const char *s, size_t size, bool is_signed, void *dst)
{
	bool neg = false;
	const char *p = s;
	if (*p == '-') {
		if (!is_signed)
			return false;
		neg = true;
		p++;
	}
	if (!*p || *p == '-' || *p == '+' || *p == ' ')
		return false;
	int base = 10;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
		if (!*p)
			return false;
	}
	char *end;
	errno = 0;
	unsigned long long mag = strtoull(p, &end, base);
	if (errno || *end)
		return false;

	unsigned bits = (unsigned)size * 8;
	uint64_t v;
	if (is_signed) {
		uint64_t limit = (uint64_t)1 << (bits - 1); /* |min|; max is limit - 1 */
		if (neg ? mag > limit : mag >= limit)
			return false;
		v = neg ? (uint64_t)0 - (uint64_t)mag : (uint64_t)mag;
	} else {
		if (bits < 64 && mag >> bits)
			return false;
		v = mag;
	}
	switch (size) {
	case 1: { uint8_t x = (uint8_t)v; memcpy(dst, &x, 1); break; }
	case 2: { uint16_t x = (uint16_t)v; memcpy(dst, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(dst, &x, 4); break; }
	case 8: memcpy(dst, &v, 8); break;
	default: return false;
	}
	return true;
}

/* Apply one NAME=VALUE to `data` (a copy of .rodata described by datasec `sec`). */
static int apply_set(const struct btf *btf, const struct btf_type *sec, char *data, size_t data_size,
		     const struct set_arg *set)
{
	const struct btf_var_secinfo *vsi = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, vsi++) {
		const struct btf_type *var = btf__type_by_id(btf, vsi->type);
		if (!var || !btf_is_var(var) || strcmp(btf__name_by_offset(btf, var->name_off), set->name))
			continue;
		if ((size_t)vsi->offset + vsi->size > data_size) {
			emit_error("set", EINVAL, NULL, NULL, "%s: lies outside .rodata", set->name);
			return -1;
		}
		char *dst = data + vsi->offset;
		const struct btf_type *t = skip_mods(btf, var->type);
		if (!t) {
			emit_error("set", EINVAL, NULL, NULL, "%s: has no type in BTF", set->name);
			return -1;
		}
		if (btf_is_int(t)) {
			__u8 enc = btf_int_encoding(t);
			if (enc & BTF_INT_BOOL) {
				bool b;
				if (!strcmp(set->value, "true") || !strcmp(set->value, "1"))
					b = true;
				else if (!strcmp(set->value, "false") || !strcmp(set->value, "0"))
					b = false;
				else {
					emit_error("set", EINVAL, NULL, NULL, "%s=%s: expected true/false/1/0",
						   set->name, set->value);
					return -1;
				}
				memset(dst, 0, t->size);
				dst[0] = b; /* bool is one byte on every BPF target */
				return 0;
			}
			if (!parse_int_value(set->value, t->size, enc & BTF_INT_SIGNED, dst)) {
				emit_error("set", EINVAL, NULL, NULL,
					   "%s=%s: not a valid %s %u-bit integer (decimal or 0x-hex)", set->name,
					   set->value, enc & BTF_INT_SIGNED ? "signed" : "unsigned", t->size * 8);
				return -1;
			}
			return 0;
		}
		if (btf_is_any_enum(t)) {
			/* An enumerator's name is accepted as well as a number. */
			for (int k = 0; k < btf_vlen(t); k++) {
				const char *ename;
				uint64_t v;
				if (btf_is_enum(t)) {
					ename = btf__name_by_offset(btf, btf_enum(t)[k].name_off);
					v = (uint64_t)(int64_t)btf_enum(t)[k].val;
				} else {
					ename = btf__name_by_offset(btf, btf_enum64(t)[k].name_off);
					v = btf_enum64_value(&btf_enum64(t)[k]);
				}
				if (ename && !strcmp(ename, set->value)) {
					char num[32];
					snprintf(num, sizeof(num), "%" PRIu64, v);
					if (btf_kflag(t) && (int64_t)v < 0)
						snprintf(num, sizeof(num), "%" PRId64, (int64_t)v);
					if (!parse_int_value(num, t->size, btf_kflag(t), dst))
						break;
					return 0;
				}
			}
			if (!parse_int_value(set->value, t->size, btf_kflag(t), dst)) {
				emit_error("set", EINVAL, NULL, NULL,
					   "%s=%s: not an enumerator or a valid %u-bit integer", set->name,
					   set->value, t->size * 8);
				return -1;
			}
			return 0;
		}
		if (btf_is_array(t)) {
			const struct btf_array *arr = btf_array(t);
			const struct btf_type *elem = skip_mods(btf, arr->type);
			if (elem && btf_is_int(elem) && elem->size == 1 && arr->nelems > 0) {
				size_t len = strlen(set->value);
				if (len > arr->nelems - 1) {
					emit_error("set", EINVAL, NULL, NULL, "%s: \"%s\" is longer than %u bytes",
						   set->name, set->value, arr->nelems - 1);
					return -1;
				}
				memset(dst, 0, arr->nelems);
				memcpy(dst, set->value, len);
				return 0;
			}
		}
		emit_error("set", EINVAL, NULL, NULL,
			   "%s: only integers, enums, bools and char arrays can be set", set->name);
		return -1;
	}
	emit_error("set", ENOENT, NULL, NULL, "no variable %s in the object's .rodata", set->name);
	return -1;
}

static bool str_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

static int apply_sets(struct bpf_object *obj, const struct options *o)
{
	if (o->nsets == 0)
		return 0;
	struct bpf_map *rodata = NULL, *m;
	bpf_object__for_each_map(m, obj) {
		/* Internal maps are named "<object prefix>.rodata"; ".rodata.str1.1"
		 * (string literals) and custom ".rodata.*" sections are not knobs. */
		if (bpf_map__is_internal(m) && str_ends_with(bpf_map__name(m), ".rodata")) {
			rodata = m;
			break;
		}
	}
	struct btf *btf = bpf_object__btf(obj);
	if (!rodata || !btf) {
		emit_error("set", ENOENT, NULL, NULL, "--set %s: the object has no .rodata%s", o->sets[0].name,
			   btf ? "" : " BTF");
		return -1;
	}
	const struct btf_type *sec = NULL;
	__u32 id = bpf_map__btf_value_type_id(rodata);
	if (id)
		sec = btf__type_by_id(btf, id);
	if (!sec || !btf_is_datasec(sec)) {
		int sid = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
		sec = sid > 0 ? btf__type_by_id(btf, (__u32)sid) : NULL;
	}
	size_t size = 0;
	const void *initial = bpf_map__initial_value(rodata, &size);
	if (!sec || !initial) {
		emit_error("set", ENOENT, NULL, NULL, "the object's .rodata has no BTF description");
		return -1;
	}
	/* Edit a copy and hand it back: bpf_map__initial_value() is const. */
	char *data = malloc(size);
	if (!data) {
		emit_error("set", ENOMEM, NULL, NULL, "out of memory");
		return -1;
	}
	memcpy(data, initial, size);
	for (int i = 0; i < o->nsets; i++) {
		if (apply_set(btf, sec, data, size, &o->sets[i])) {
			free(data);
			return -1;
		}
	}
	int err = bpf_map__set_initial_value(rodata, data, size);
	free(data);
	if (err) {
		emit_error("set", -err, NULL, NULL, "writing .rodata: %s", strerror(-err));
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Small system helpers.                                                    */

/* A (monotonic, realtime) pair taken together: realtime is read between two
 * monotonic reads and paired with their midpoint, to keep the skew small. */
static void clock_pair(uint64_t *mono_ns, uint64_t *real_ns)
{
	struct timespec m1, r, m2;
	clock_gettime(CLOCK_MONOTONIC, &m1);
	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m2);
	uint64_t a = (uint64_t)m1.tv_sec * 1000000000ull + (uint64_t)m1.tv_nsec;
	uint64_t b = (uint64_t)m2.tv_sec * 1000000000ull + (uint64_t)m2.tv_nsec;
	*mono_ns = a + (b - a) / 2;
	*real_ns = (uint64_t)r.tv_sec * 1000000000ull + (uint64_t)r.tv_nsec;
}

/* Fill online[0..ncpus) from /sys/devices/system/cpu/online ("0-3,5,7-8"). */
static int read_online_cpus(bool *online, int ncpus)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	if (!f)
		return -errno;
	char line[4096];
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	memset(online, 0, (size_t)ncpus * sizeof(*online));
	for (char *p = line; *p && *p != '\n';) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			return -EINVAL;
		p = end;
		if (*p == '-') {
			b = strtol(p + 1, &end, 10);
			if (end == p + 1)
				return -EINVAL;
			p = end;
		}
		for (long c = a; c <= b && c < ncpus; c++)
			if (c >= 0)
				online[c] = true;
		if (*p == ',')
			p++;
	}
	return 0;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	unsigned long size = 0, resident = 0;
	int n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	if (n != 2)
		return 0;
	return (long)(resident * (unsigned long)sysconf(_SC_PAGESIZE) / 1024);
}

static const char *map_type_name(enum bpf_map_type type, char *scratch, size_t size)
{
	/* NULL for types newer than this libbpf: the number is sent instead. */
	const char *s = libbpf_bpf_map_type_str(type);
	if (s)
		return s;
	snprintf(scratch, size, "%d", (int)type);
	return NULL;
}

static bool map_is_percpu(enum bpf_map_type type)
{
	return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

static bool map_is_array(enum bpf_map_type type)
{
	return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

static bool map_is_hash(enum bpf_map_type type)
{
	return type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_LRU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/* The map called name, and its position in the object's map order (the
 * index READY lists and frames carry). */
static struct bpf_map *find_map(struct bpf_object *obj, const char *name, uint16_t *index)
{
	struct bpf_map *map;
	uint16_t i = 0;
	bpf_object__for_each_map(map, obj) {
		if (!strcmp(bpf_map__name(map), name)) {
			*index = i;
			return map;
		}
		i++;
	}
	return NULL;
}

static int prog_info(const struct bpf_program *prog, struct bpf_prog_info *info)
{
	__u32 len = sizeof(*info);
	memset(info, 0, sizeof(*info));
	int fd = bpf_program__fd(prog);
	if (fd < 0)
		return -EBADF;
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

static bool prog_loaded(const struct bpf_program *prog)
{
	return bpf_program__fd(prog) >= 0;
}

/* ------------------------------------------------------------------------ */
/* Map dumps.                                                               */

static int ncpus; /* possible CPUs: the width of a per-CPU value */

/* Scratch reused across intervals so a steady-state dump does not allocate. */
static struct buf dump_keys, dump_pairs;
static char *raw_value, *sum_value, *zero_value;
static size_t scratch_value_size;

static int ensure_scratch(size_t raw_size)
{
	if (raw_size <= scratch_value_size)
		return 0;
	free(raw_value);
	free(sum_value);
	free(zero_value);
	raw_value = malloc(raw_size);
	sum_value = malloc(raw_size);
	zero_value = calloc(1, raw_size);
	if (!raw_value || !sum_value || !zero_value) {
		scratch_value_size = 0;
		return -ENOMEM;
	}
	scratch_value_size = raw_size;
	return 0;
}

static void report_dump_error(struct dump_arg *d, int err, const char *what)
{
	if (d->error_reported)
		return;
	d->error_reported = true;
	emit_error("runtime", err, NULL, NULL, "dumping map %s: %s: %s (reported once)", d->name, what,
		   strerror(err));
}

/*
 * Send one MAP_DUMP frame for map d: u32 keySize, u32 valueSize, u32 count,
 * then count × (key, value). Per-CPU values are summed across CPUs as u64 lanes.
 *
 * Keys are collected first, then read: deleting (draining) while walking with
 * get_next_key would restart the walk at the first key. The walk is bounded
 * by max_entries so a map that keeps changing under us cannot loop forever.
 */
static void dump_map(struct dump_arg *d)
{
	int fd = bpf_map__fd(d->map);
	enum bpf_map_type type = bpf_map__type(d->map);
	uint32_t key_size = bpf_map__key_size(d->map);
	uint32_t value_size = bpf_map__value_size(d->map);
	uint32_t max_entries = bpf_map__max_entries(d->map);
	bool percpu = map_is_percpu(type);
	size_t lane = ((size_t)value_size + 7) / 8 * 8;
	size_t raw_size = percpu ? lane * (size_t)ncpus : value_size;
	char key_prev[key_size ? key_size : 1], key_next[key_size ? key_size : 1];

	if (ensure_scratch(raw_size) < 0) {
		report_dump_error(d, ENOMEM, "allocating a value buffer");
		return;
	}

	dump_keys.len = 0;
	uint32_t nkeys = 0;
	const void *prev = NULL;
	while (nkeys < max_entries) {
		if (bpf_map_get_next_key(fd, prev, key_next)) {
			if (errno != ENOENT)
				report_dump_error(d, errno, "walking keys");
			break;
		}
		buf_put(&dump_keys, key_next, key_size);
		memcpy(key_prev, key_next, key_size);
		prev = key_prev;
		nkeys++;
	}

	dump_pairs.len = 0;
	uint32_t count = 0;
	for (uint32_t i = 0; i < nkeys; i++) {
		const char *key = dump_keys.data + (size_t)i * key_size;
		bool deleted = false;
		int err;
		if (d->drain && map_is_hash(type) && !d->no_lookup_and_delete) {
			/* Atomic: no increment can land between the read and the delete. */
			err = bpf_map_lookup_and_delete_elem(fd, key, raw_value);
			if (err && errno != ENOENT) {
				d->no_lookup_and_delete = true;
				err = bpf_map_lookup_elem(fd, key, raw_value);
			} else {
				deleted = !err;
			}
		} else {
			err = bpf_map_lookup_elem(fd, key, raw_value);
		}
		if (err) {
			if (errno != ENOENT) /* gone since the walk: nothing to report */
				report_dump_error(d, errno, "reading a value");
			continue;
		}

		const char *value = raw_value;
		if (percpu) {
			uint64_t *sum = (uint64_t *)sum_value;
			size_t lanes = lane / 8;
			memset(sum, 0, lane);
			for (int cpu = 0; cpu < ncpus; cpu++) {
				const char *v = raw_value + (size_t)cpu * lane;
				for (size_t l = 0; l < lanes; l++) {
					uint64_t x;
					memcpy(&x, v + l * 8, 8);
					sum[l] += x;
				}
			}
			value = sum_value;
		}
		buf_put(&dump_pairs, key, key_size);
		buf_put(&dump_pairs, value, value_size);
		count++;

		if (d->drain && !deleted) {
			if (map_is_array(type)) {
				/* Array slots cannot be deleted: drain means zero, and only
				 * the slots that hold something (most histogram slots don't). */
				if (memcmp(raw_value, zero_value, raw_size) &&
				    bpf_map_update_elem(fd, key, zero_value, BPF_ANY))
					report_dump_error(d, errno, "zeroing a slot");
			} else if (bpf_map_delete_elem(fd, key) && errno != ENOENT) {
				report_dump_error(d, errno, "deleting a key");
			}
		}
	}

	if (out_broken)
		return;
	uint32_t head[3] = { key_size, value_size, count };
	frame_header(FRAME_MAP_DUMP, d->index, sizeof(head) + dump_pairs.len);
	buf_put(&out, head, sizeof(head));
	buf_put(&out, dump_pairs.data, dump_pairs.len);
	if (out.len >= OUT_FLUSH_THRESHOLD)
		out_flush();
}

/* ------------------------------------------------------------------------ */
/* READY and INTERVAL.                                                      */

static void emit_ready(struct bpf_object *obj)
{
	struct buf j = { 0 };
	struct bpf_program *prog;
	struct bpf_map *map;
	bool first = true;

	buf_puts(&j, "{\"programs\":[");
	bpf_object__for_each_program(prog, obj) {
		if (!prog_loaded(prog))
			continue;
		struct bpf_prog_info info;
		prog_info(prog, &info);
		buf_puts(&j, first ? "{\"name\":" : ",{\"name\":");
		buf_json_str(&j, bpf_program__name(prog));
		buf_puts(&j, ",\"section\":");
		buf_json_str(&j, bpf_program__section_name(prog));
		buf_printf(&j, ",\"id\":%u}", info.id);
		first = false;
	}
	buf_puts(&j, "],\"maps\":[");
	int index = 0;
	bpf_object__for_each_map(map, obj) {
		enum bpf_map_type type = bpf_map__type(map);
		char scratch[16];
		const char *tname = map_type_name(type, scratch, sizeof(scratch));
		buf_printf(&j, "%s{\"index\":%d,\"name\":", index ? "," : "", index);
		buf_json_str(&j, bpf_map__name(map));
		buf_puts(&j, ",\"type\":");
		if (tname)
			buf_json_str(&j, tname);
		else
			buf_puts(&j, scratch);
		buf_printf(&j, ",\"keySize\":%u,\"valueSize\":%u,\"maxEntries\":%u,\"perCpu\":%s}",
			   bpf_map__key_size(map), bpf_map__value_size(map), bpf_map__max_entries(map),
			   map_is_percpu(type) ? "true" : "false");
		index++;
	}
	uint64_t mono, real;
	clock_pair(&mono, &real);
	buf_printf(&j, "],\"ncpus\":%d,\"clock\":{\"monotonicNs\":%" PRIu64 ",\"realtimeNs\":%" PRIu64 "}}",
		   ncpus, mono, real);
	frame(FRAME_READY, 0, j.data, j.len);
	free(j.data);
}

static void emit_interval(struct bpf_object *obj)
{
	struct buf j = { 0 };
	struct bpf_program *prog;
	uint64_t mono, real;
	bool first = true;

	clock_pair(&mono, &real);
	buf_printf(&j, "{\"monotonicNs\":%" PRIu64 ",\"realtimeNs\":%" PRIu64 ",\"programs\":[", mono, real);
	bpf_object__for_each_program(prog, obj) {
		if (!prog_loaded(prog))
			continue;
		struct bpf_prog_info info;
		prog_info(prog, &info);
		buf_puts(&j, first ? "{\"name\":" : ",{\"name\":");
		buf_json_str(&j, bpf_program__name(prog));
		buf_printf(&j, ",\"id\":%u,\"runTimeNs\":%llu,\"runCount\":%llu}", info.id,
			   (unsigned long long)info.run_time_ns, (unsigned long long)info.run_cnt);
		first = false;
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	buf_printf(&j,
		   "],\"cpuUserUs\":%lld,\"cpuSystemUs\":%lld,\"maxRssKb\":%ld,\"rssKb\":%ld}",
		   (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
		   (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss, rss_kb());
	frame(FRAME_INTERVAL, 0, j.data, j.len);
	free(j.data);
}

/* ------------------------------------------------------------------------ */
/* Ring buffers.                                                            */

static int on_ringbuf_record(void *ctx, void *data, size_t size)
{
	if (out_broken)
		return -EPIPE; /* stops ring_buffer__consume() */
	frame(FRAME_EVENT, (uint16_t)(uintptr_t)ctx, data, size);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Load.                                                                    */

/* Load the object; on failure send ERROR stage "load" with the failing
 * program's name and the end of its verifier log. */
static int load_object(struct bpf_object *obj)
{
	struct bpf_program *prog;
	int nprogs = 0;
	bpf_object__for_each_program(prog, obj)
		nprogs++;
	char **logs = calloc((size_t)nprogs + 1, sizeof(*logs));
	if (!logs) {
		emit_error("load", ENOMEM, NULL, NULL, "out of memory");
		return -1;
	}
	/* One buffer per program: libbpf loads with log_level 0 and, only when a
	 * load fails, retries that program at log_level 1 into its buffer. So the
	 * one non-empty buffer afterwards names the program the verifier rejected. */
	int i = 0;
	bpf_object__for_each_program(prog, obj) {
		logs[i] = calloc(1, VERIFIER_LOG_SIZE);
		if (logs[i])
			bpf_program__set_log_buf(prog, logs[i], VERIFIER_LOG_SIZE);
		i++;
	}

	capture_warnings = true;
	int err = bpf_object__load(obj);
	capture_warnings = false;

	if (err) {
		const char *failed = NULL, *log = NULL;
		i = 0;
		bpf_object__for_each_program(prog, obj) {
			if (logs[i] && logs[i][0]) {
				failed = bpf_program__name(prog);
				log = logs[i];
				break;
			}
			i++;
		}
		/* No verifier log (a CO-RE relocation or a map failed before the
		 * kernel saw the program): take the name from libbpf's warning. */
		char name[128] = "";
		if (!failed && first_prog_warning[0]) {
			const char *p = strstr(first_prog_warning, "prog '");
			if (p && sscanf(p, "prog '%127[^']'", name) == 1)
				failed = name;
		}
		const char *tail = NULL;
		if (log) {
			size_t len = strnlen(log, VERIFIER_LOG_SIZE);
			tail = log;
			if (len > VERIFIER_LOG_TAIL) {
				/* Start at a line boundary so the excerpt reads cleanly. */
				tail = log + len - VERIFIER_LOG_TAIL;
				const char *nl = memchr(tail, '\n', (size_t)(log + len - tail));
				if (nl && nl + 1 < log + len)
					tail = nl + 1;
			}
		}
		const char *why = first_prog_warning[0] ? first_prog_warning : last_warning;
		emit_error("load", -err, failed, tail, "%s", why[0] ? why : strerror(-err));
	}
	for (i = 0; i < nprogs; i++)
		free(logs[i]);
	free(logs);
	return err ? -1 : 0;
}

static int perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group_fd,
			   unsigned long flags)
{
	return (int)syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
}

/* Open a cpu-clock sampling event at p->freq Hz on every online CPU and
 * attach p->prog to each; the links are appended to links[*nlinks]. */
static int attach_perf_event(struct perf_arg *p, const bool *online, struct bpf_link **links,
			     int *nlinks)
{
	for (int cpu = 0; cpu < ncpus; cpu++) {
		if (!online[cpu])
			continue;
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.size = sizeof(attr),
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.freq = 1,
			.sample_freq = p->freq,
		};
		int pfd = perf_event_open(&attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (pfd < 0) {
			int e = errno;
			emit_error("perf_event", e, p->prog_name, NULL,
				   "perf_event_open(cpu-clock, %lu Hz, cpu %d): %s", p->freq, cpu, strerror(e));
			return -1;
		}
		/* The link owns pfd from here: destroying it disables and closes the event. */
		struct bpf_link *link = bpf_program__attach_perf_event(p->prog, pfd);
		if (!link) {
			int e = errno;
			close(pfd);
			emit_error("perf_event", e, p->prog_name, NULL,
				   "attaching %s to the cpu %d sampling event: %s", p->prog_name, cpu, strerror(e));
			return -1;
		}
		links[(*nlinks)++] = link;
	}
	return 0;
}

/* Attach every program by its section, perf_event programs only through
 * --perf-event. Returns the links, *nlinks of them; on failure sends an ERROR
 * frame, detaches whatever it had attached and returns NULL. */
static struct bpf_link **attach_all(struct bpf_object *obj, struct options *o, int *nlinks)
{
	struct bpf_program *prog;
	int nprogs = 0;
	bpf_object__for_each_program(prog, obj)
		nprogs++;
	struct bpf_link **links = calloc((size_t)nprogs + (size_t)o->nperfs * (size_t)ncpus + 1,
					 sizeof(*links));
	bool *online = calloc((size_t)ncpus, sizeof(*online));
	if (!links || !online)
		goto oom;
	*nlinks = 0;

	bpf_object__for_each_program(prog, obj) {
		if (!prog_loaded(prog) || bpf_program__type(prog) == BPF_PROG_TYPE_PERF_EVENT)
			continue;
		struct bpf_link *link = bpf_program__attach(prog);
		if (!link) {
			int err = errno;
			emit_error("attach", err, bpf_program__name(prog), NULL, "attaching %s (%s): %s",
				   bpf_program__name(prog), bpf_program__section_name(prog), strerror(err));
			goto fail;
		}
		links[(*nlinks)++] = link;
	}
	if (o->nperfs) {
		int err = read_online_cpus(online, ncpus);
		if (err) {
			emit_error("perf_event", -err, NULL, NULL, "reading /sys/devices/system/cpu/online: %s",
				   strerror(-err));
			goto fail;
		}
	}
	for (int i = 0; i < o->nperfs; i++)
		if (attach_perf_event(&o->perfs[i], online, links, nlinks))
			goto fail;
	free(online);
	return links;

oom:
	emit_error("attach", ENOMEM, NULL, NULL, "out of memory");
fail:
	/* Detach what was attached: the caller only cleans up the object. */
	for (int i = (links ? *nlinks : 0) - 1; i >= 0; i--)
		bpf_link__destroy(links[i]);
	*nlinks = 0;
	free(links);
	free(online);
	return NULL;
}

/* ------------------------------------------------------------------------ */

enum epoll_tag { TAG_RINGBUF = 1, TAG_STDIN, TAG_SIGNAL, TAG_TIMER };

static int epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv)
{
	struct options opts = { 0 };
	struct bpf_object *obj = NULL;
	struct bpf_link **links = NULL;
	int nlinks = 0;
	struct ring_buffer *rb = NULL;
	int epfd = -1, sigfd = -1, timerfd = -1, stats_fd = -1;
	int exit_code = EXIT_FAILURE_LOAD;

	/* A vanished reader must be a write error we handle, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	/* Stop signals are blocked from the start and read through a signalfd, so
	 * one arriving during load is acted on as soon as the loop runs, after a
	 * proper detach. */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop_signals, NULL);

	if (parse_args(argc, argv, &opts))
		return EXIT_BAD_ARGS;

	libbpf_set_print(libbpf_print);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		emit_error("open", -ncpus, NULL, NULL, "cannot count possible CPUs: %s", strerror(-ncpus));
		return EXIT_FAILURE_LOAD;
	}

	obj = bpf_object__open_file(opts.object, NULL);
	if (!obj) {
		int err = errno;
		emit_error("open", err, NULL, NULL, "opening %s: %s", opts.object, strerror(err));
		return EXIT_FAILURE_LOAD;
	}

	/* Resolve the names on the command line now: a typo is a command-line
	 * error (exit 2), found before anything is loaded. */
	for (int i = 0; i < opts.nringbufs; i++) {
		struct ringbuf_arg *r = &opts.ringbufs[i];
		r->map = find_map(obj, r->name, &r->index);
		if (!r->map || bpf_map__type(r->map) != BPF_MAP_TYPE_RINGBUF) {
			emit_error("args", ENOENT, NULL, NULL, "--ringbuf %s: %s", r->name,
				   r->map ? "not a ring buffer map" : "the object has no such map");
			exit_code = EXIT_BAD_ARGS;
			goto cleanup;
		}
	}
	for (int i = 0; i < opts.ndumps; i++) {
		struct dump_arg *d = &opts.dumps[i];
		d->map = find_map(obj, d->name, &d->index);
		enum bpf_map_type type = d->map ? bpf_map__type(d->map) : BPF_MAP_TYPE_UNSPEC;
		if (!d->map || type == BPF_MAP_TYPE_RINGBUF || type == BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
			emit_error("args", ENOENT, NULL, NULL, "--dump %s: %s", d->name,
				   d->map ? "a ring/perf buffer cannot be dumped" : "the object has no such map");
			exit_code = EXIT_BAD_ARGS;
			goto cleanup;
		}
	}
	for (int i = 0; i < opts.nperfs; i++) {
		struct perf_arg *p = &opts.perfs[i];
		p->prog = bpf_object__find_program_by_name(obj, p->prog_name);
		if (!p->prog || bpf_program__type(p->prog) != BPF_PROG_TYPE_PERF_EVENT) {
			emit_error("args", ENOENT, p->prog_name, NULL, "--perf-event %s: %s", p->prog_name,
				   p->prog ? "not a perf_event program" : "the object has no such program");
			exit_code = EXIT_BAD_ARGS;
			goto cleanup;
		}
	}

	if (apply_sets(obj, &opts)) {
		exit_code = EXIT_BAD_ARGS;
		goto cleanup;
	}

	if (load_object(obj))
		goto cleanup;

	/* Run-time stats stay enabled while the returned fd is open. */
	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0)
		fprintf(stderr, "ppbpf: BPF_ENABLE_STATS failed (%s): runTimeNs and runCount will stay 0\n",
			strerror(errno));

	links = attach_all(obj, &opts, &nlinks);
	if (!links)
		goto cleanup;

	/* One ring buffer manager for all --ringbuf maps; ctx is the map index. */
	for (int i = 0; i < opts.nringbufs; i++) {
		int fd = bpf_map__fd(opts.ringbufs[i].map);
		void *ctx = (void *)(uintptr_t)opts.ringbufs[i].index;
		int err = 0;
		if (!rb) {
			rb = ring_buffer__new(fd, on_ringbuf_record, ctx, NULL);
			if (!rb)
				err = -errno;
		} else {
			err = ring_buffer__add(rb, fd, on_ringbuf_record, ctx);
		}
		if (err) {
			emit_error("runtime", -err, NULL, NULL, "opening ring buffer %s: %s", opts.ringbufs[i].name,
				   strerror(-err));
			goto cleanup;
		}
	}

	epfd = epoll_create1(EPOLL_CLOEXEC);
	sigfd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
	timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (epfd < 0 || sigfd < 0 || timerfd < 0) {
		emit_error("runtime", errno, NULL, NULL, "creating epoll/signalfd/timerfd: %s", strerror(errno));
		goto cleanup;
	}
	struct itimerspec its = {
		.it_interval = { (time_t)(opts.interval_ms / 1000), (long)(opts.interval_ms % 1000) * 1000000 },
	};
	its.it_value = its.it_interval;
	if (timerfd_settime(timerfd, 0, &its, NULL) || epoll_add(epfd, sigfd, TAG_SIGNAL) ||
	    epoll_add(epfd, timerfd, TAG_TIMER) ||
	    (rb && epoll_add(epfd, ring_buffer__epoll_fd(rb), TAG_RINGBUF))) {
		emit_error("runtime", errno, NULL, NULL, "setting up the event loop: %s", strerror(errno));
		goto cleanup;
	}
	/* stdin EOF means the agent is gone. A stdin epoll cannot watch (a regular
	 * file, /dev/null, a closed fd: a run by hand) is left alone, and only a
	 * signal stops us. */
	if (epoll_add(epfd, STDIN_FILENO, TAG_STDIN))
		fprintf(stderr, "ppbpf: not watching stdin (%s): stop with SIGTERM or SIGINT\n",
			strerror(errno));

	emit_ready(obj);
	out_flush();

	exit_code = EXIT_OK;
	bool stop = false;
	while (!stop && !out_broken) {
		struct epoll_event evs[8];
		int n = epoll_wait(epfd, evs, 8, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			emit_error("runtime", errno, NULL, NULL, "epoll_wait: %s", strerror(errno));
			exit_code = EXIT_FAILURE_LOAD;
			break;
		}
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case TAG_RINGBUF:
				ring_buffer__consume(rb);
				break;
			case TAG_STDIN: {
				char scratch[4096];
				ssize_t r = read(STDIN_FILENO, scratch, sizeof(scratch));
				if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
					stop = true; /* EOF (or a dead pipe): the agent is gone */
				break; /* anything written to us is ignored */
			}
			case TAG_SIGNAL:
				stop = true;
				break;
			case TAG_TIMER: {
				uint64_t expirations;
				if (read(timerfd, &expirations, sizeof(expirations)) < 0)
					break;
				/* Events first, so an interval's dumps follow its events. */
				if (rb)
					ring_buffer__consume(rb);
				for (int k = 0; k < opts.ndumps; k++)
					dump_map(&opts.dumps[k]);
				emit_interval(obj);
				break;
			}
			}
		}
		out_flush();
	}
	/* Hand over what the ring buffers still hold before detaching. */
	if (rb && !out_broken) {
		ring_buffer__consume(rb);
		out_flush();
	}
	if (out_broken)
		exit_code = EXIT_FAILURE_LOAD;

cleanup:
	ring_buffer__free(rb);
	for (int i = nlinks - 1; i >= 0; i--)
		bpf_link__destroy(links[i]);
	free(links);
	bpf_object__close(obj);
	if (stats_fd >= 0)
		close(stats_fd);
	if (epfd >= 0)
		close(epfd);
	if (sigfd >= 0)
		close(sigfd);
	if (timerfd >= 0)
		close(timerfd);
	free(dump_keys.data);
	free(dump_pairs.data);
	free(raw_value);
	free(sum_value);
	free(zero_value);
	free(opts.sets);
	free(opts.ringbufs);
	free(opts.dumps);
	free(opts.perfs);
	out_flush();
	free(out.data);
	return exit_code;
}
