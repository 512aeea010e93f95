/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --set: a probe's `const volatile` knobs, written into the object's .rodata
 * before load.
 */
#ifndef PPBPF_KNOBS_H
#define PPBPF_KNOBS_H

#include <bpf/libbpf.h>
#include "args.h"

/* Write each NAME=VALUE into obj's .rodata (found through BTF, checked
 * against the variable's type). On a bad one: an ERROR frame (stage "set"),
 * -1. */
int apply_knobs(struct bpf_object *obj, const struct set_arg *sets, int nsets);

#endif /* PPBPF_KNOBS_H */
