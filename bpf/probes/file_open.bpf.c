/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * file_open: one record per openat()/openat2() call, with its result.
 *
 * The entry handler only remembers the arguments; the exit handler reads the
 * path. By then getname() has copied it, so the user page is resident and
 * bpf_probe_read_user_str() (which cannot fault pages in) succeeds.
 */
#include "pp_common.bpf.h"

/* Only paths starting with this string; "" = every path. */
const volatile char path_prefix[PP_PREFIX_LEN] = {};
/* Non-zero: only calls that failed (ret < 0). */
const volatile __u32 failed_only = 0;

struct open_args {
	__u64 filename; /* user pointer */
	__s32 flags;
	__u32 _pad;
};

/* In-flight calls, keyed by pid_tgid: a thread has at most one. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, struct open_args);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

/* Puts the record type in the object's BTF (a type used only by local
 * variables is not emitted), where the decoder layout test reads it. */
const struct pp_open_event *const pp_record_type __attribute__((unused)) = 0;

static __always_inline int on_enter(__u64 filename, __s32 flags)
{
	if (!pp_current_wanted())
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	struct open_args a = { .filename = filename, .flags = flags };
	bpf_map_update_elem(&inflight, &id, &a, BPF_ANY);
	return 0;
}

static __always_inline bool prefix_matches(const char *path)
{
#pragma unroll
	for (int i = 0; i < PP_PREFIX_LEN; i++) {
		if (path_prefix[i] == '\0')
			return true;
		if (path[i] != path_prefix[i])
			return false;
	}
	return true;
}

static __always_inline int on_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct open_args *ap = bpf_map_lookup_elem(&inflight, &id);
	if (!ap)
		return 0; /* filtered out at entry, or entry not seen */
	struct open_args a = *ap;
	bpf_map_delete_elem(&inflight, &id);

	if (failed_only && ret >= 0)
		return 0;

	struct pp_open_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	/* Ring buffer memory is recycled: path must be NUL-padded. */
	__builtin_memset(e, 0, sizeof(*e));
	/* Read straight into the record; a prefix mismatch discards it, which is
	 * cheaper than staging the path in a scratch map and copying it. */
	bpf_probe_read_user_str(e->path, sizeof(e->path), (const void *)a.filename);
	if (path_prefix[0] != '\0' && !prefix_matches(e->path)) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}

	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->flags = a.flags;
	e->ret = ret;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	pp_ringbuf_submit(&events, e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int file_openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	/* openat(dfd, filename, flags, mode) */
	return on_enter(ctx->args[1], (__s32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int file_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int file_openat2_enter(struct trace_event_raw_sys_enter *ctx)
{
	/* openat2(dfd, filename, how, size): flags live in user memory. A failed
	 * read leaves 0; the kernel would then fail the call with EFAULT anyway. */
	if (!pp_current_wanted())
		return 0;
	struct open_how *how = (struct open_how *)ctx->args[2];
	__u64 flags = 0;
	bpf_probe_read_user(&flags, sizeof(flags), &how->flags);
	return on_enter(ctx->args[1], (__s32)flags);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int file_openat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}
