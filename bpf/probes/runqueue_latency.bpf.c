// SPDX-License-Identifier: GPL-2.0
/*
 * runqueue_latency: how long runnable tasks wait on a CPU run queue before they
 * run (scheduler latency), as a log2 histogram in microseconds. Modelled on
 * libbpf-tools' runqlat.
 *
 *   tp_btf/sched_wakeup, tp_btf/sched_wakeup_new  a task becomes runnable:
 *                                                 start[tid] = now
 *   tp_btf/sched_switch                           a preempted `prev` (still
 *                                                 TASK_RUNNING) is runnable again:
 *                                                 start[tid] = now; `next` starts to
 *                                                 run: hist += now - start[tid],
 *                                                 start[tid] = 0
 *
 * Maps: `hist` per-CPU array [1] of struct pp_hist (microseconds; the loader sums
 * the CPUs). `start` is internal.
 *
 * Unlike runqlat, `start` entries are not inserted and deleted for every wakeup:
 * a thread's entry is created the first time it is enqueued, then only written in
 * place (a lookup and a store, no bucket lock, no element allocation) and set to
 * 0 once consumed; it is deleted when the thread dies (its final switch-out, in
 * state TASK_DEAD). So `start` holds at most one entry per live thread seen.
 * Measured on the test VM (2 vCPUs, pipe ping-pong, BPF stats on): sched_switch
 * 300 -> 160 ns/run and sched_wakeup 190 -> 140 ns/run, of which ~56 ns is the
 * cost of an empty program with stats enabled.
 * In-place updates do not race: every access to a task's entry (its wakeup, its
 * preemption, its switch-in) happens under that task's run-queue lock.
 *
 * Filters: targ_pid / targ_comm / targ_cgroup are applied to the task being
 * enqueued (not to `current`, which at wakeup is the waker), so only wanted tasks
 * ever get a timestamp and `next` needs no filter of its own. The idle task
 * (pid 0) is never recorded.
 *
 * tp_btf (rather than tracepoint/sched/...) because the task pointers are typed,
 * trusted BTF pointers: fields are read with plain CO-RE loads instead of
 * bpf_probe_read_kernel() calls, which matters on sched_switch, one of the
 * hottest tracepoints in the kernel.
 */
#include "pp_common.bpf.h"

#define MAX_ENTRIES 10240
#define TASK_RUNNING 0x0000
#define TASK_DEAD 0x0080 /* include/linux/sched.h, since 4.14 */

/* tid -> CLOCK_MONOTONIC ns at which the task became runnable, 0 when it is not
 * waiting. A preallocated hash (no allocation in scheduler context). When it is
 * full (more than MAX_ENTRIES live threads seen), new threads are not timed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_hist);
} hist SEC(".maps");

/* task_struct::state was renamed __state (and became unsigned int) in 5.14. */
struct task_struct___o {
	volatile long int state;
} __attribute__((preserve_access_index));

struct task_struct___x {
	unsigned int __state;
} __attribute__((preserve_access_index));

/* `task` is a trusted BTF pointer (a tp_btf argument): direct CO-RE loads, no
 * bpf_probe_read_kernel() call (measured ~25 ns cheaper per sched_switch). */
static __always_inline long task_state(struct task_struct *task)
{
	struct task_struct___x *t = (void *)task;

	if (bpf_core_field_exists(t->__state))
		return t->__state;
	return ((struct task_struct___o *)task)->state;
}

/*
 * The standard filters for a task that is not `current`. targ_cgroup compares the
 * task's cgroup v2 id (task->cgroups->dfl_cgrp->kn->id, what
 * bpf_get_current_cgroup_id() returns for current): four dependent reads, paid
 * only when targ_cgroup is set (rodata: the verifier drops the dead branch
 * otherwise). kernfs_node::id is a u64 since 5.5.
 */
static __always_inline bool task_wanted(struct task_struct *task)
{
	if (!pp_task_wanted(task))
		return false;
	if (targ_cgroup && BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id) != targ_cgroup)
		return false;
	return true;
}

static __always_inline void trace_enqueue(struct task_struct *task)
{
	__u32 tid = task->pid;
	__u64 ts, *tsp;

	if (!tid) /* idle */
		return;
	if (!task_wanted(task))
		return;
	ts = bpf_ktime_get_ns();
	tsp = bpf_map_lookup_elem(&start, &tid);
	if (tsp)
		*tsp = ts;
	else
		bpf_map_update_elem(&start, &tid, &ts, BPF_NOEXIST);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	trace_enqueue(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	trace_enqueue(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct pp_hist *h;
	__u64 *tsp, ts, delta;
	__u32 tid, zero = 0;
	long state = task_state(prev);

	/* A task switched out while still runnable (preempted, or yielded) goes
	 * straight back on the run queue: its wait starts now. A task switched out
	 * in any other state is sleeping (its wakeup will time it) or dying (its
	 * last switch: forget it, so that dead threads do not fill `start`). */
	if (state == TASK_RUNNING) {
		trace_enqueue(prev);
	} else if (state & TASK_DEAD) {
		tid = prev->pid;
		bpf_map_delete_elem(&start, &tid);
	}

	tid = next->pid;
	if (!tid) /* idle */
		return 0;
	tsp = bpf_map_lookup_elem(&start, &tid);
	if (!tsp)
		return 0; /* filtered out, or not seen being enqueued */
	ts = *tsp;
	if (!ts)
		return 0; /* enqueued before we attached, or while filtered out */
	*tsp = 0;

	delta = bpf_ktime_get_ns() - ts;
	/* A timestamp taken on another CPU can be a little ahead of ours. */
	if ((__s64)delta < 0)
		return 0;

	h = bpf_map_lookup_elem(&hist, &zero);
	if (!h)
		return 0;
	/* Plain (non-atomic) adds are safe: the slot is this CPU's, and
	 * sched_switch runs with preemption and interrupts disabled. */
	pp_hist_add(h, delta / 1000);
	return 0;
}
