// SPDX-License-Identifier: GPL-2.0
/*
 * cpu_profile: sampling CPU profiler. The loader attaches `do_sample` to a
 * cpu-clock software perf event at --perf-event do_sample:FREQ on every online
 * CPU; each sample counts one (process, thread, kernel stack, user stack, comm).
 * Modelled on libbpf-tools' profile.
 *
 * Maps:
 *   counts  per-CPU hash, key struct pp_stack_key, value struct pp_count (drained
 *           by the agent every interval)
 *   stacks  stack trace map: u32 id -> u64 ips[PP_MAX_STACK_DEPTH] (unused
 *           tail zeroed); ids are referenced by `counts` keys. Entries stay until
 *           user space deletes them, so a long profile of many distinct stacks
 *           can fill it (new stacks then get -ENOMEM or -EEXIST, see below).
 *   drops   per-CPU array [1] of struct pp_count: samples lost because `counts`
 *           was full
 *
 * Stack ids < 0 are errno values from bpf_get_stackid(): -EFAULT (14) means no
 * stack of that kind (kernel stack of a sample taken in user mode, user stack of
 * a kernel thread), -EEXIST (17) a hash collision in `stacks` with a different
 * stack (we do not pass BPF_F_REUSE_STACKID: that would silently rewrite the ips
 * of an id already referenced by other keys), -ENOMEM (12) `stacks` full.
 *
 * User stacks are walked with frame pointers (the kernel's perf unwinder): code
 * built with -fomit-frame-pointer yields short or broken user stacks.
 */
#include "pp_common.bpf.h"

#define COUNTS_ENTRIES 10240
#define STACKS_ENTRIES 8192

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, COUNTS_ENTRIES);
	__type(key, struct pp_stack_key);
	__type(value, struct pp_count);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, STACKS_ENTRIES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, PP_MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_count);
} drops SEC(".maps");

SEC("perf_event")
int do_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pp_stack_key key = {};

	/* tid 0 is the idle task (one per CPU, all pid 0): idle time is not CPU use. */
	if ((__u32)id == 0)
		return 0;
	if (!pp_current_wanted())
		return 0;

	key.pid = id >> 32;
	key.tid = (__u32)id;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	key.kernel_stack_id = bpf_get_stackid(ctx, &stacks, 0);
	key.user_stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);

	/* A sample runs in hard-irq context (cpu-clock is an hrtimer) under the
	 * kernel's bpf_prog_active guard, so no other tracing program runs on
	 * this CPU meanwhile: the plain per-CPU add is exact. */
	pp_count_key(&counts, &key, &drops);
	return 0;
}
