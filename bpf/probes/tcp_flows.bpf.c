/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tcp_flows: one record per TCP connection when it reaches CLOSE, with its
 * lifetime, direction, the process that owned it and the payload bytes each way.
 *
 * Everything hangs off sock/inet_sock_set_state (the model is tcplife in
 * BCC/libbpf-tools). Only the socket's state changes are traced, never its
 * packets, so the cost is a few map operations per connection.
 *
 * Process identity: state changes mostly happen in softirq context, where
 * `current` is whatever task happened to be interrupted. A change made while
 * the socket lock is owned (sk_lock.owned) is made by the task holding it, i.e.
 * a process inside a socket call: -> SYN_SENT (connect()), -> FIN_WAIT1 /
 * LAST_ACK (close(), shutdown()), -> CLOSE from close() that aborts with
 * unread data. The first such task names the flow; outbound flows are
 * therefore attributed to the connecting process even if another one closes
 * the socket.
 *
 * Byte counts: tcp_sock.bytes_acked / bytes_received advance with the sequence
 * numbers (RFC 4898), so they include the SYN and FIN flags, one sequence
 * number each. Those are subtracted where they were counted, so the record
 * holds payload bytes only.
 */
#include "pp_common.bpf.h"

#define AF_INET 2
#define AF_INET6 10

/* Skip flows that lived less than this (microseconds); 0 = keep every flow. */
const volatile __u64 min_duration_us = 0;

struct flow {
	__u64 start_ns;
	__u32 pid;          /* 0 until a process-context transition was seen */
	__u8 direction;     /* enum pp_flow_direction */
	__u8 fin_queued;    /* we went to FIN_WAIT1/LAST_ACK: our FIN is in write_seq */
	__u8 _pad[2];
	char comm[PP_COMM_LEN];
};

/* LRU: a socket whose CLOSE we never see (e.g. tracked while the probe was
 * detached) must not pin an entry forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct sock * */
	__type(value, struct flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static __always_inline bool pp_any_filter(void)
{
	return targ_pid || targ_cgroup || targ_comm[0] != '\0';
}

/* Puts the record type in the object's BTF (a type used only by local
 * variables is not emitted), where the decoder layout test reads it. */
const struct pp_tcp_flow_event *const pp_record_type __attribute__((unused)) = 0;

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_flows_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;

	__u64 sk = (__u64)ctx->skaddr;
	int oldstate = ctx->oldstate;
	int newstate = ctx->newstate;
	struct flow *f;

	if (newstate == TCP_SYN_SENT) {
		/* connect(): process context, so the filters can be decided now;
		 * an unwanted flow simply never gets an entry. BPF_ANY because a
		 * socket may connect again after a failed attempt. */
		if (!pp_current_wanted())
			return 0;
		struct flow nf = {
			.start_ns = bpf_ktime_get_ns(),
			.pid = bpf_get_current_pid_tgid() >> 32,
			.direction = PP_FLOW_OUTBOUND,
		};
		bpf_get_current_comm(nf.comm, sizeof(nf.comm));
		bpf_map_update_elem(&flows, &sk, &nf, BPF_ANY);
		return 0;
	}

	if (newstate == TCP_SYN_RECV ||
	    (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV)) {
		/* Passive open (the child socket is born in SYN_RECV) in softirq
		 * context: no owner yet. NOEXIST keeps the start of a flow already
		 * tracked (simultaneous open: SYN_SENT -> SYN_RECV), and the
		 * ESTABLISHED case picks up children whose SYN_RECV we missed. */
		struct flow nf = {
			.start_ns = bpf_ktime_get_ns(),
			.direction = PP_FLOW_INBOUND,
		};
		bpf_map_update_elem(&flows, &sk, &nf, BPF_NOEXIST);
		return 0;
	}

	if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) {
		/* close()/shutdown() by the owner: the first chance to name an
		 * inbound flow and to apply the filters to it. */
		f = bpf_map_lookup_elem(&flows, &sk);
		if (!f)
			return 0;
		/* Both transitions come from tcp_close_state(), which queues a FIN. */
		f->fin_queued = 1;
		if (f->pid)
			return 0;
		if (!pp_current_wanted()) {
			bpf_map_delete_elem(&flows, &sk);
			return 0;
		}
		f->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(f->comm, sizeof(f->comm));
		return 0;
	}

	if (newstate != TCP_CLOSE)
		return 0;

	f = bpf_map_lookup_elem(&flows, &sk);
	if (!f)
		return 0; /* start not seen (pre-existing) or filtered out */

	__u64 now = bpf_ktime_get_ns();
	__u64 start_ns = f->start_ns;
	if (min_duration_us && now - start_ns < min_duration_us * 1000)
		goto out;

	struct tcp_sock *tp = (struct tcp_sock *)ctx->skaddr;
	/* Not named yet: a close() that aborts (unread data, SO_LINGER 0) goes
	 * straight to CLOSE, under the socket lock. Otherwise the flow was only
	 * ever seen from softirq and cannot satisfy a filter. */
	bool name_now = false;
	if (!f->pid) {
		if (BPF_CORE_READ((struct sock *)tp, sk_lock.owned)) {
			if (!pp_current_wanted())
				goto out;
			name_now = true;
		} else if (pp_any_filter()) {
			goto out;
		}
	}

	struct pp_tcp_flow_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		goto out;
	/* Ring buffer memory is recycled: clear padding and unused address bytes. */
	__builtin_memset(e, 0, sizeof(*e));

	__u16 family = ctx->family;
	__u64 sent = BPF_CORE_READ(tp, bytes_acked);
	__u64 received = BPF_CORE_READ(tp, bytes_received);

	/* Our SYN: acknowledged (hence counted) exactly when an active open got
	 * anywhere; a passive child starts counting after the handshake. */
	if (f->direction == PP_FLOW_OUTBOUND && sent)
		sent--;
	/* Our FIN: counted once everything up to write_seq, FIN included, is acked. */
	if (f->fin_queued && sent &&
	    BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
		sent--;
	/* The peer's FIN: tcp_fin() advances rcv_nxt past it and sets SOCK_DONE
	 * (nothing else in TCP sets it; tcp_done() has not run yet at this point). */
	__u64 sk_flags = BPF_CORE_READ((struct sock *)tp, __sk_common.skc_flags);
	if (received && (sk_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))))
		received--;

	e->start_ns = start_ns;
	e->end_ns = now;
	e->bytes_sent = sent;
	e->bytes_received = received;
	if (name_now) {
		e->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	} else {
		e->pid = f->pid;
		__builtin_memcpy(e->comm, f->comm, sizeof(e->comm));
	}
	e->family = family;
	e->sport = ctx->sport;
	e->dport = ctx->dport;
	e->direction = f->direction;
	/* Helper reads: the verifier refuses loads through a ctx pointer with an offset added. */
	if (family == AF_INET) {
		bpf_probe_read_kernel(e->saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(e->daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(e->saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(e->daddr, 16, ctx->daddr_v6);
	}
	pp_ringbuf_submit(&events, e);
out:
	bpf_map_delete_elem(&flows, &sk);
	return 0;
}
