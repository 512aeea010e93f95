/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The command line (bpf/README.md, "Loader command line"): what it asks for,
 * then, once the object is open, the maps and programs those names stand for.
 */
#ifndef PPBPF_ARGS_H
#define PPBPF_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <bpf/libbpf.h>

/* --set NAME=VALUE */
struct set_arg {
	const char *name;
	const char *value;
};

/* --dump MAP[:drain], with the state its dumps keep between intervals */
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

/* --ringbuf MAP */
struct ringbuf_arg {
	const char *name;
	struct bpf_map *map;
	uint16_t index;
};

/* --perf-event PROG:FREQ */
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
	bool verbose;
};

/* Parse argv into o (editing argv in place). --help prints the usage on
 * stderr and exits 0. On a bad command line: an ERROR frame (stage "args"),
 * -1. */
int parse_args(int argc, char **argv, struct options *o);
/* Find the maps and programs the command line names in obj, before anything
 * is loaded, so that a typo is a command-line error: an ERROR frame (stage
 * "args"), -1. */
int resolve_args(struct options *o, struct bpf_object *obj);
void free_args(struct options *o);

#endif /* PPBPF_ARGS_H */
