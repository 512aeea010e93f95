// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Command line: parsing (getopt_long, errors as ERROR frames since stdout
 * carries only frames) and resolving the names it gives against the object.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "args.h"
#include "frames.h"
#include "maps.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ppbpf --object PATH.bpf.o [--set NAME=VALUE]... [--ringbuf MAP]...\n"
		"             [--dump MAP[:drain]]... [--interval-ms N] [--perf-event PROG:FREQ]...\n"
		"             [--verbose]\n"
		"Loads and attaches a CO-RE eBPF object and streams its output to stdout as frames\n"
		"(see bpf/README.md). Stops on SIGTERM/SIGINT or when stdin reaches EOF.\n");
}

/* Parse a whole decimal number into *result; false if s is not one. */
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

int parse_args(int argc, char **argv, struct options *o)
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
			o->verbose = true;
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

int resolve_args(struct options *o, struct bpf_object *obj)
{
	/* --ringbuf: ring buffer maps */
	for (int i = 0; i < o->nringbufs; i++) {
		struct ringbuf_arg *r = &o->ringbufs[i];
		r->map = find_map(obj, r->name, &r->index);
		if (!r->map || bpf_map__type(r->map) != BPF_MAP_TYPE_RINGBUF) {
			emit_error("args", ENOENT, NULL, NULL, "--ringbuf %s: %s", r->name,
				   r->map ? "not a ring buffer map" : "the object has no such map");
			return -1;
		}
	}
	/* --dump: any map but a ring or perf buffer */
	for (int i = 0; i < o->ndumps; i++) {
		struct dump_arg *d = &o->dumps[i];
		d->map = find_map(obj, d->name, &d->index);
		enum bpf_map_type type = d->map ? bpf_map__type(d->map) : BPF_MAP_TYPE_UNSPEC;
		if (!d->map || type == BPF_MAP_TYPE_RINGBUF || type == BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
			emit_error("args", ENOENT, NULL, NULL, "--dump %s: %s", d->name,
				   d->map ? "a ring/perf buffer cannot be dumped" : "the object has no such map");
			return -1;
		}
	}
	/* --perf-event: perf_event programs */
	for (int i = 0; i < o->nperfs; i++) {
		struct perf_arg *p = &o->perfs[i];
		p->prog = bpf_object__find_program_by_name(obj, p->prog_name);
		if (!p->prog || bpf_program__type(p->prog) != BPF_PROG_TYPE_PERF_EVENT) {
			emit_error("args", ENOENT, p->prog_name, NULL, "--perf-event %s: %s", p->prog_name,
				   p->prog ? "not a perf_event program" : "the object has no such program");
			return -1;
		}
	}
	return 0;
}

void free_args(struct options *o)
{
	free(o->sets);
	free(o->ringbufs);
	free(o->dumps);
	free(o->perfs);
}
