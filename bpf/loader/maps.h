/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The object's maps: lookup by name, type predicates, and MAP_DUMP frames.
 */
#ifndef PPBPF_MAPS_H
#define PPBPF_MAPS_H

#include <stdbool.h>
#include <stdint.h>
#include <bpf/libbpf.h>
#include "args.h"
#include "buf.h"

/* The map called name, and its position in the object's map order (the index
 * READY lists and frames carry); NULL if there is none. */
struct bpf_map *find_map(struct bpf_object *obj, const char *name, uint16_t *index);
bool map_is_percpu(enum bpf_map_type type);

/* Scratch reused across intervals so a steady-state dump does not allocate. */
struct map_dumper {
	int ncpus; /* possible CPUs: the width of a per-CPU value */
	struct buf keys, payload;
	char *raw_value, *sum_value, *zero_value;
	size_t value_size; /* of each of the three value buffers */
};

/* Send one MAP_DUMP frame for d (draining it with :drain). A failure is an
 * ERROR frame with stage "runtime", once per map, and not fatal. */
void dump_map(struct map_dumper *dumper, struct dump_arg *d);
void map_dumper_free(struct map_dumper *dumper);

#endif /* PPBPF_MAPS_H */
