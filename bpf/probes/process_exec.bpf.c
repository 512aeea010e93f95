/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * process_exec: one record per successful execve()/execveat().
 *
 * sched_process_exec fires once the new image is in place, so `current`
 * already has the new comm and mm: argv is read from the new process's stack
 * (mm->arg_start..arg_end), where the kernel copied it.
 */
#include "pp_common.bpf.h"

/* 256 KiB holds ~320 records; the loader is woken at a quarter full
 * (pp_ringbuf_submit), so even fork-heavy bursts are read long before it
 * fills, and a smaller ring is less memory mapped into the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Puts the record type in the object's BTF (a type used only by local
 * variables is not emitted), where the decoder layout test reads it. */
const struct pp_exec_event *const pp_record_type __attribute__((unused)) = 0;

/* argc without linux_binprm: the ELF loader leaves the new stack pointer at
 * mm->start_stack, where argc is followed by argv[0] == arg_start. That second
 * word tells us the layout is the one we expect (binfmts other than ELF may
 * differ); when it does not match, fall back to counting the NULs we copied. */
static __always_inline __u32 read_argc(struct mm_struct *mm, __u64 arg_start,
				       const char *args, __u32 size)
{
	__u64 top[2] = {};
	__u64 start_stack = BPF_CORE_READ(mm, start_stack);

	if (start_stack &&
	    !bpf_probe_read_user(top, sizeof(top), (void *)start_stack) &&
	    top[0] <= 0x7fffffff && (top[0] ? top[1] == arg_start : top[1] == 0))
		return top[0];

	__u32 n = 0;
	for (__u32 i = 0; i < PP_ARGS_LEN; i++) {
		if (i >= size)
			break;
		if (args[i] == '\0')
			n++;
	}
	return n;
}

SEC("tracepoint/sched/sched_process_exec")
int process_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	/* targ_comm is compared with the new comm: it is already set here. */
	if (!pp_current_wanted())
		return 0;

	struct pp_exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	/* Ring buffer memory is recycled: the string arrays must be NUL-padded. */
	__builtin_memset(e, 0, sizeof(*e));

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);

	e->ts_ns = bpf_ktime_get_ns();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	/* __data_loc: the low 16 bits are the string's offset from the record start. */
	__u32 loc = ctx->__data_loc_filename;
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + (loc & 0xFFFF));

	__u64 arg_start = BPF_CORE_READ(mm, arg_start);
	__u64 arg_end = BPF_CORE_READ(mm, arg_end);
	__u64 len = arg_end - arg_start;
	if (arg_end < arg_start)
		len = 0;
	if (len > PP_ARGS_LEN)
		len = PP_ARGS_LEN;
	if (len && bpf_probe_read_user(e->args, len, (void *)arg_start))
		len = 0;
	e->args_size = len;
	e->args_count = read_argc(mm, arg_start, e->args, len);

	pp_ringbuf_submit(&events, e);
	return 0;
}
