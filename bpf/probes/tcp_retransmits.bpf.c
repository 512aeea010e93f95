/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tcp_retransmits: counts of TCP retransmissions and resets per remote
 * endpoint, in a per-CPU hash the agent drains every interval.
 *
 * These events fire from softirq and timer context, where `current` is
 * unrelated to the connection, so targ_pid and targ_comm cannot be applied and
 * are ignored. targ_cgroup is applied to the socket's own cgroup (the cgroup v2
 * of the task that created it), which is known in any context.
 *
 * Tracepoint layouts changed over kernel versions: tcp_retransmit_skb and
 * tcp_send_reset used the shared tcp_event_sk_skb class until they got their
 * own (tcp_send_reset now stores sockaddrs; tcp_retransmit_skb gained `err`
 * and also fires for failed attempts). The ___pp flavours below describe each
 * layout independently of the vmlinux.h the object is built with; CO-RE picks
 * the one the running kernel has.
 */
#include "pp_common.bpf.h"
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10

/* Older kernels: tcp_retransmit_skb and tcp_send_reset (class tcp_event_sk_skb). */
struct trace_event_raw_tcp_event_sk_skb___pp {
	struct trace_entry ent;
	const void *skbaddr;
	const void *skaddr;
	int state;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
} __attribute__((preserve_access_index));

/* Newer kernels: tcp_retransmit_skb as its own event, with `err`. */
struct trace_event_raw_tcp_retransmit_skb___pp {
	struct trace_entry ent;
	const void *skbaddr;
	const void *skaddr;
	int state;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
	int err;
} __attribute__((preserve_access_index));

/* Newer kernels: tcp_send_reset with the local (saddr) and remote (daddr) ends
 * as struct sockaddr_in / sockaddr_in6 (28 bytes), ports in network order. */
struct trace_event_raw_tcp_send_reset___pp {
	struct trace_entry ent;
	const void *skbaddr;
	const void *skaddr;
	int state;
	__u8 saddr[28];
	__u8 daddr[28];
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pp_tcp_signal_key);
	__type(value, struct pp_count);
} counts SEC(".maps");

/* Whether the socket belongs to targ_cgroup. Only full sockets carry a cgroup:
 * callers pass NULL for request and time-wait minisocks. */
static __always_inline bool sock_cgroup_wanted(const void *skaddr)
{
	if (!targ_cgroup)
		return true;
	if (!skaddr)
		return false;
	struct sock *sk = (struct sock *)skaddr;
	/* sk_cgrp_data.cgroup exists since 5.15; before that the pointer was
	 * packed in a tagged u64 and the filter cannot be evaluated. */
	if (!bpf_core_field_exists(sk->sk_cgrp_data.cgroup))
		return false;
	return BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id) == targ_cgroup;
}

static __always_inline void count(struct pp_tcp_signal_key *key)
{
	struct pp_count *c = bpf_map_lookup_elem(&counts, key);
	if (c) {
		c->count++; /* per-CPU slot: no atomics needed */
		return;
	}
	struct pp_count one = { .count = 1 };
	/* Another CPU may have created the key meanwhile: then bump our slot of it. */
	if (bpf_map_update_elem(&counts, key, &one, BPF_NOEXIST)) {
		c = bpf_map_lookup_elem(&counts, key);
		if (c)
			c->count++;
	}
}

/* The common (sport, dport, family, daddr, daddr_v6) layout of both sk_skb flavours and tcp_event_sk. */
#define FILL_KEY_FROM_SK_FIELDS(key, ctx)                                          \
	do {                                                                       \
		(key)->family = (ctx)->family;                                     \
		(key)->sport = (ctx)->sport;                                       \
		(key)->dport = (ctx)->dport;                                       \
		if ((key)->family == AF_INET)                                      \
			bpf_probe_read_kernel((key)->daddr, 4, (ctx)->daddr);      \
		else                                                               \
			bpf_probe_read_kernel((key)->daddr, 16, (ctx)->daddr_v6);  \
	} while (0)

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcp_retransmit(void *ctx)
{
	struct pp_tcp_signal_key key = { .kind = PP_TCP_RETRANSMIT };

	if (bpf_core_type_exists(struct trace_event_raw_tcp_retransmit_skb___pp)) {
		struct trace_event_raw_tcp_retransmit_skb___pp *args = ctx;
		/* Only segments that actually left, as TcpRetransSegs counts them. */
		if (bpf_core_field_exists(args->err) && args->err)
			return 0;
		if (!sock_cgroup_wanted(args->skaddr))
			return 0;
		FILL_KEY_FROM_SK_FIELDS(&key, args);
	} else {
		struct trace_event_raw_tcp_event_sk_skb___pp *args = ctx;
		if (!sock_cgroup_wanted(args->skaddr))
			return 0;
		FILL_KEY_FROM_SK_FIELDS(&key, args);
	}
	count(&key);
	return 0;
}

SEC("tracepoint/tcp/tcp_send_reset")
int tcp_send_reset(void *ctx)
{
	struct pp_tcp_signal_key key = { .kind = PP_TCP_SEND_RESET };

	if (bpf_core_type_exists(struct trace_event_raw_tcp_send_reset___pp)) {
		struct trace_event_raw_tcp_send_reset___pp *args = ctx;
		/* A reset may answer a segment for no socket at all, or come from a
		 * request/time-wait minisock that has no cgroup. */
		const void *sk = args->skaddr;
		int state = args->state;
		if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
			sk = NULL;
		if (!sock_cgroup_wanted(sk))
			return 0;

		/* sockaddr_in: family@0 port@2 addr@4; sockaddr_in6: addr@8. The
		 * tracepoint already swapped a socketless skb's ends: saddr is local. */
		__u8 local[28], remote[28];
		bpf_probe_read_kernel(local, sizeof(local), args->saddr);
		bpf_probe_read_kernel(remote, sizeof(remote), args->daddr);
		key.family = *(__u16 *)&remote[0];
		key.dport = bpf_ntohs(*(__u16 *)&remote[2]);
		key.sport = bpf_ntohs(*(__u16 *)&local[2]);
		if (key.family == AF_INET)
			__builtin_memcpy(key.daddr, &remote[4], 4);
		else if (key.family == AF_INET6)
			__builtin_memcpy(key.daddr, &remote[8], 16);
	} else {
		struct trace_event_raw_tcp_event_sk_skb___pp *args = ctx;
		if (!sock_cgroup_wanted(args->skaddr))
			return 0;
		FILL_KEY_FROM_SK_FIELDS(&key, args);
	}
	count(&key);
	return 0;
}

SEC("tracepoint/tcp/tcp_receive_reset")
int tcp_receive_reset(struct trace_event_raw_tcp_event_sk *ctx)
{
	struct pp_tcp_signal_key key = { .kind = PP_TCP_RECEIVE_RESET };

	if (!sock_cgroup_wanted(ctx->skaddr))
		return 0;
	FILL_KEY_FROM_SK_FIELDS(&key, ctx);
	count(&key);
	return 0;
}
