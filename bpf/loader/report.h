/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * READY and INTERVAL frames: what was loaded, and what it costs.
 */
#ifndef PPBPF_REPORT_H
#define PPBPF_REPORT_H

#include <bpf/libbpf.h>

/* Turn on BPF run-time statistics, which stay on while the returned fd is
 * open; -1 (said on stderr) if the kernel refuses: run times are then 0. */
int enable_run_time_stats(void);

/* READY: the loaded programs, every map of the object, ncpus and a clock pair. */
void emit_ready(struct bpf_object *obj, int ncpus);
/* INTERVAL: a clock pair, each program's cumulative run time and count, and
 * our own CPU time and memory. */
void emit_interval(struct bpf_object *obj);

#endif /* PPBPF_REPORT_H */
