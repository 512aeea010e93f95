/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tcp_connect_latency: time from connect() (-> SYN_SENT) to the handshake
 * completing (SYN_SENT -> ESTABLISHED), as a log2 histogram in microseconds.
 * Attempts that end in CLOSE instead (refused, timed out, aborted by the
 * application) are counted, not timed: their duration says nothing about the
 * network path.
 *
 * Only socket state changes are traced, never packets.
 */
#include "pp_common.bpf.h"

/* LRU: a connect whose outcome we never see must not pin an entry forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);   /* struct sock * */
	__type(value, __u64); /* bpf_ktime_get_ns() at SYN_SENT */
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_hist);
} hist SEC(".maps");

/* Entry 0: connects that went SYN_SENT -> CLOSE. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_count);
} counts SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_connect_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;

	__u64 sk = (__u64)ctx->skaddr;
	int oldstate = ctx->oldstate;
	int newstate = ctx->newstate;

	if (newstate == TCP_SYN_SENT) {
		/* Inside connect(): the only point where the filters mean something. */
		if (!pp_current_wanted())
			return 0;
		__u64 ts = bpf_ktime_get_ns();
		bpf_map_update_elem(&start, &sk, &ts, BPF_ANY);
		return 0;
	}

	/* Cheap exit for the many transitions that cannot end a connect.
	 * SYN_RECV covers a simultaneous open (SYN_SENT -> SYN_RECV -> ESTABLISHED). */
	if (oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV)
		return 0;
	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return 0;

	__u64 *tsp = bpf_map_lookup_elem(&start, &sk);
	if (!tsp)
		return 0;

	__u32 zero = 0;
	if (newstate == TCP_ESTABLISHED) {
		__u64 delta_us = (bpf_ktime_get_ns() - *tsp) / 1000;
		struct pp_hist *h = bpf_map_lookup_elem(&hist, &zero);
		if (h)
			pp_hist_add(h, delta_us);
	} else {
		struct pp_count *c = bpf_map_lookup_elem(&counts, &zero);
		if (c)
			c->count++;
	}
	bpf_map_delete_elem(&start, &sk);
	return 0;
}
