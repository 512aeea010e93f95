/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * process_exit: one record per process exit, with its wait(2)-style status and
 * lifetime.
 *
 * sched_process_exit fires in do_exit() for every exiting thread, after
 * task->exit_code is set. Only the thread-group leader's exit is reported (as
 * exitsnoop does); see the caveat about leaders that exit before their other
 * threads in PROBES-network-security.md.
 */
#include "pp_common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Puts the record type in the object's BTF (a type used only by local
 * variables is not emitted), where the decoder layout test reads it. */
const struct pp_exit_event *const pp_record_type __attribute__((unused)) = 0;

SEC("tracepoint/sched/sched_process_exit")
int process_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;

	/* Cheapest test first: most exits in a threaded workload are threads. */
	if ((__u32)id != pid)
		return 0;
	if (!pp_current_wanted())
		return 0;

	struct pp_exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	/* exit_code is the raw status: (code << 8) for exit(code), the signal
	 * number (| 0x80 with a core dump) for a fatal signal. */
	__u32 code = BPF_CORE_READ(task, exit_code);
	/* start_time is CLOCK_MONOTONIC ns, like bpf_ktime_get_ns(). */
	__u64 now = bpf_ktime_get_ns();

	e->ts_ns = now;
	e->duration_ns = now - BPF_CORE_READ(task, start_time);
	e->pid = pid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->exit_code = (code >> 8) & 0xff;
	e->signal = code & 0x7f;
	/* bpf_get_current_comm() NUL-pads the whole array: no stale bytes. */
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	pp_ringbuf_submit(&events, e);
	return 0;
}
