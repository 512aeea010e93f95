/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * oom_kills: one record per OOM-killer victim (global or memory-cgroup OOM).
 *
 * oom/mark_victim fires in the context of the task whose allocation ran into
 * the OOM, so `current` is the trigger. Its payload grew over time (comm and
 * the memory counters in 6.2-ish, uid later): each optional field is read only
 * if the running kernel's tracepoint has it, so the object loads on kernels
 * whose mark_victim carries just `pid`.
 *
 * Filters: targ_pid and targ_comm select the victim (the process one watches
 * die); targ_cgroup is the trigger's cgroup, the only one known here. For a
 * memory-cgroup OOM, trigger and victim are in the same memory cgroup.
 */
#include "pp_common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* Puts the record type in the object's BTF (a type used only by local
 * variables is not emitted), where the decoder layout test reads it. */
const struct pp_oom_event *const pp_record_type __attribute__((unused)) = 0;

SEC("tracepoint/oom/mark_victim")
int oom_mark_victim(struct trace_event_raw_mark_victim *ctx)
{
	__u32 pid = ctx->pid;

	if (targ_pid && pid != targ_pid)
		return 0;
	if (targ_cgroup && bpf_get_current_cgroup_id() != targ_cgroup)
		return 0;

	struct pp_oom_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	/* Zero: absent fields must read as 0 and comm must be NUL-padded. */
	__builtin_memset(e, 0, sizeof(*e));

	if (bpf_core_field_exists(ctx->__data_loc_comm)) {
		/* __data_loc: low 16 bits = offset of the string from the record start. */
		__u32 loc = ctx->__data_loc_comm;
		bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), (void *)ctx + (loc & 0xFFFF));
	}
	/* Without comm in the tracepoint a comm filter cannot match. */
	if (targ_comm[0] != '\0' && !pp_comm_matches(e->comm)) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}

	e->ts_ns = bpf_ktime_get_ns();
	e->pid = pid;
	e->trigger_pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->trigger_comm, sizeof(e->trigger_comm));
	/* The tracepoint already reports the counters in kB. */
	if (bpf_core_field_exists(ctx->total_vm))
		e->total_vm_kb = ctx->total_vm;
	if (bpf_core_field_exists(ctx->anon_rss))
		e->anon_rss_kb = ctx->anon_rss;
	if (bpf_core_field_exists(ctx->file_rss))
		e->file_rss_kb = ctx->file_rss;
	if (bpf_core_field_exists(ctx->shmem_rss))
		e->shmem_rss_kb = ctx->shmem_rss;
	if (bpf_core_field_exists(ctx->uid))
		e->uid = ctx->uid;
	if (bpf_core_field_exists(ctx->oom_score_adj))
		e->oom_score_adj = ctx->oom_score_adj;

	pp_ringbuf_submit(&events, e);
	return 0;
}
