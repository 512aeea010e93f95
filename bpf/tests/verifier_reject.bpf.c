/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Deliberately rejected by the verifier: it dereferences a map lookup without
 * the NULL check. The kernel tests load it to check that ppbpf reports a
 * verifier failure as a structured error carrying the verifier's reason.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH); /* an array with a constant in-range key is known non-NULL to newer verifiers */
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("tracepoint/sched/sched_switch")
int unchecked_lookup(void *ctx)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&counts, &key);
	*value += 1; /* no NULL check: "invalid mem access 'map_value_or_null'" */
	return 0;
}
