/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Helpers every probe shares: the standard filters (rodata knobs the loader sets
 * with --set before load) and log2 histogram updates.
 *
 * Standard knobs (every probe declares them by including this header):
 *   targ_pid     u32       only this process (tgid); 0 = every process
 *   targ_comm    char[16]  only tasks whose comm equals this; "" = every comm
 *   targ_cgroup  u64       only tasks in this cgroup v2 id (inode of its directory
 *                          in the unified hierarchy); 0 = every cgroup
 */
#ifndef PP_COMMON_BPF_H
#define PP_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
/* E2BIG, EEXIST, ...: vmlinux.h has the kernel's types but not its macros.
 * Only macros, found through the host's include directories (see Makefile). */
#include <asm-generic/errno.h>
#include "probepilot.h"

const volatile __u32 targ_pid = 0;
const volatile char targ_comm[PP_COMM_LEN] = {};
const volatile __u64 targ_cgroup = 0;

static __always_inline bool pp_comm_matches(const char *comm)
{
	if (targ_comm[0] == '\0')
		return true;
#pragma unroll
	for (int i = 0; i < PP_COMM_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return false;
		if (comm[i] == '\0')
			return true;
	}
	return true;
}

/* Whether the current task passes the standard filters. */
static __always_inline bool pp_current_wanted(void)
{
	if (targ_pid && (bpf_get_current_pid_tgid() >> 32) != targ_pid)
		return false;
	if (targ_cgroup && bpf_get_current_cgroup_id() != targ_cgroup)
		return false;
	if (targ_comm[0] != '\0') {
		char comm[PP_COMM_LEN];
		bpf_get_current_comm(comm, sizeof(comm));
		if (!pp_comm_matches(comm))
			return false;
	}
	return true;
}

/* Whether a task other than the current one passes the pid and comm filters (cgroup is not checked: it is the current task's). */
static __always_inline bool pp_task_wanted(struct task_struct *task)
{
	if (targ_pid && (__u32)BPF_CORE_READ(task, tgid) != targ_pid)
		return false;
	if (targ_comm[0] != '\0') {
		char comm[PP_COMM_LEN];
		BPF_CORE_READ_STR_INTO(&comm, task, comm);
		if (!pp_comm_matches(comm))
			return false;
	}
	return true;
}

static __always_inline __u32 pp_log2(__u64 v)
{
	__u32 r = 0;
#pragma unroll
	for (int shift = 32; shift > 0; shift >>= 1) {
		if (v >= (1ULL << shift)) {
			v >>= shift;
			r += shift;
		}
	}
	return r;
}

/* Add one value to a histogram (the caller owns the value pointer: a per-CPU map slot). */
static __always_inline void pp_hist_add(struct pp_hist *h, __u64 value)
{
	__u32 slot = pp_log2(value);
	if (slot >= PP_HIST_SLOTS)
		slot = PP_HIST_SLOTS - 1;
	h->slots[slot]++;
	h->sum += value;
	h->count++;
}

/*
 * Count one occurrence of `key` in `counts` (a per-CPU hash of struct
 * pp_count) or, when that map is full until the agent drains it, one loss in
 * `drops` (a per-CPU array [1] of struct pp_count). The add on this CPU's slot
 * is a plain one: callers say why that is safe (or close enough) in their
 * context, since a locked add on a hot path is what they avoid.
 */
static __always_inline void pp_count_key(void *counts, const void *key, void *drops)
{
	struct pp_count one = { .count = 1 }, *val;
	__u32 zero = 0;
	long err;

	val = bpf_map_lookup_elem(counts, key);
	if (val) {
		val->count++;
		return;
	}
	err = bpf_map_update_elem(counts, key, &one, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* inserted meanwhile (by another CPU) */
		val = bpf_map_lookup_elem(counts, key);
		if (val)
			val->count++;
	} else if (err) {
		/* -E2BIG: `counts` is full until the agent drains it. */
		val = bpf_map_lookup_elem(drops, &zero);
		if (val)
			val->count++;
	}
}

/*
 * Submit a ring-buffer record without waking the loader, which drains its ring
 * buffers on every interval tick anyway (the agent sends once per interval).
 * A wakeup per record costs the producer ~12 µs (measured on process_exec:
 * 13.1 µs/run with one, 0.96 without) and the loader a context switch. Only
 * once a quarter of the buffer is waiting is the loader woken, so a burst is
 * read before the buffer can fill.
 */
static __always_inline void pp_ringbuf_submit(void *ringbuf, void *record)
{
	__u64 waiting = bpf_ringbuf_query(ringbuf, BPF_RB_AVAIL_DATA);
	__u64 size = bpf_ringbuf_query(ringbuf, BPF_RB_RING_SIZE);

	bpf_ringbuf_submit(record, waiting >= size / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

char LICENSE[] SEC("license") = "GPL";

#endif /* PP_COMMON_BPF_H */
