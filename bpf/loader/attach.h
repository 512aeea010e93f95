/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Attaching the loaded programs, and detaching them.
 */
#ifndef PPBPF_ATTACH_H
#define PPBPF_ATTACH_H

#include <bpf/libbpf.h>
#include "args.h"

struct links {
	struct bpf_link **links;
	int n;
};

/* Attach every loaded program by its section name, except perf_event
 * programs, which are attached only through --perf-event: to a cpu-clock
 * sampling event on every online CPU. On failure: an ERROR frame (stage
 * "attach" or "perf_event"), -1; what was attached is in links either way,
 * for detach_all(). */
int attach_all(struct bpf_object *obj, const struct options *o, int ncpus, struct links *links);
/* Detach, in the reverse order of attaching. */
void detach_all(struct links *links);

#endif /* PPBPF_ATTACH_H */
