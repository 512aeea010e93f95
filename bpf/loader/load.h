/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Loading the object: libbpf's diagnostics, and an ERROR frame that says why
 * a load failed (the verifier log's end, or libbpf's warning).
 */
#ifndef PPBPF_LOAD_H
#define PPBPF_LOAD_H

#include <stdbool.h>
#include <bpf/libbpf.h>

/* Route libbpf's messages to stderr (its debug messages only when verbose). */
void setup_libbpf_log(bool verbose);

/* Load (and verify) every program of obj. On failure: an ERROR frame with
 * stage "load", the failing program's name and the end of its verifier log,
 * -1. */
int load_object(struct bpf_object *obj);

/* A program is loaded once it has an fd (autoload may have left it out). */
static inline bool prog_loaded(const struct bpf_program *prog)
{
	return bpf_program__fd(prog) >= 0;
}

#endif /* PPBPF_LOAD_H */
