/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Record layouts shared by the eBPF probes (kernel side) and the agent's
 * TypeScript decoders (agent/src/probes/bpf/records/). Every struct here is
 * read by offset in TypeScript: a test compares the decoders' offsets with
 * the BTF of each built object, so a change here fails CI until both agree.
 *
 * Conventions:
 * - Timestamps are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns()); the
 *   loader's READY frame carries a (monotonic, realtime) pair to convert them.
 * - `pid` is the process id (tgid), `tid` the thread id.
 * - Strings are NUL-padded fixed arrays.
 * - Histograms: log2 buckets, slot i counts values in [2^i, 2^(i+1)), with 0
 *   and 1 both in slot 0. Values of a per-CPU map are u64 arrays (the loader
 *   sums them across CPUs), so every histogram/counter value is all-u64.
 */
#ifndef PROBEPILOT_H
#define PROBEPILOT_H

#define PP_COMM_LEN 16
#define PP_HIST_SLOTS 64
#define PP_PATH_LEN 256
#define PP_ARGS_LEN 512
#define PP_PREFIX_LEN 64
#define PP_MAX_STACK_DEPTH 127

/* One log2 histogram: the value type of every `hist` map. */
struct pp_hist {
	__u64 slots[PP_HIST_SLOTS];
	__u64 sum;
	__u64 count;
};

/* A single-counter value (per-CPU maps sum it across CPUs). */
struct pp_count {
	__u64 count;
};

/* ---- tcp_flows: ring buffer `events`, one record per closed connection ---- */
enum pp_flow_direction { PP_FLOW_UNKNOWN = 0, PP_FLOW_OUTBOUND = 1, PP_FLOW_INBOUND = 2 };
struct pp_tcp_flow_event {
	__u64 start_ns;       /* first state change seen (SYN_SENT / SYN_RECV / ESTABLISHED) */
	__u64 end_ns;         /* transition to CLOSE */
	__u64 bytes_sent;     /* tcp_sock.bytes_acked: payload bytes the peer acknowledged */
	__u64 bytes_received; /* tcp_sock.bytes_received */
	__u32 pid;            /* process that connected or closed; 0 when only softirq context was seen */
	__u16 family;         /* AF_INET (2) or AF_INET6 (10) */
	__u16 sport;          /* host byte order */
	__u16 dport;          /* host byte order */
	__u8 direction;       /* enum pp_flow_direction */
	__u8 _pad;
	__u8 saddr[16];       /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	char comm[PP_COMM_LEN];
};

/* ---- tcp_connect_latency: per-CPU array `hist` of one struct pp_hist, microseconds ---- */

/* ---- tcp_retransmits: per-CPU hash `counts`, key below, value struct pp_count (drained) ---- */
enum pp_tcp_signal { PP_TCP_RETRANSMIT = 1, PP_TCP_SEND_RESET = 2, PP_TCP_RECEIVE_RESET = 3 };
struct pp_tcp_signal_key {
	__u32 kind;     /* enum pp_tcp_signal */
	__u16 family;
	__u16 dport;    /* remote port, host byte order */
	__u16 sport;    /* local port, host byte order */
	__u16 _pad;
	__u8 daddr[16]; /* remote address */
};

/* ---- runqueue_latency: per-CPU array `hist` of one struct pp_hist, microseconds ---- */

/* ---- block_io_latency: per-CPU hash `hist`, key below, value struct pp_hist, microseconds ---- */
enum pp_block_op { PP_BLOCK_READ = 0, PP_BLOCK_WRITE = 1, PP_BLOCK_FLUSH = 2, PP_BLOCK_DISCARD = 3, PP_BLOCK_OTHER = 4 };
struct pp_block_key {
	__u32 dev;  /* kernel dev_t: major = dev >> 20, minor = dev & 0xfffff */
	__u32 op;   /* enum pp_block_op */
};

/* ---- cpu_profile: per-CPU hash `counts` (drained) keyed by pp_stack_key, value struct pp_count;
 *      stack trace map `stacks` (u32 id -> u64 ips[PP_MAX_STACK_DEPTH]) ---- */
struct pp_stack_key {
	__u32 pid;
	__u32 tid;
	__s32 kernel_stack_id; /* < 0: no kernel stack (user mode) or an error code */
	__s32 user_stack_id;   /* < 0: no user stack (kernel thread) or an error code */
	char comm[PP_COMM_LEN];
};

/* ---- process_exec: ring buffer `events` ---- */
struct pp_exec_event {
	__u64 ts_ns;
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u32 args_size;   /* bytes used in args: NUL-separated argv, truncated at PP_ARGS_LEN */
	__u32 args_count;  /* argc as the kernel saw it */
	__u32 _pad;
	char comm[PP_COMM_LEN];
	char filename[PP_PATH_LEN];
	char args[PP_ARGS_LEN];
};

/* ---- process_exit: ring buffer `events` (thread-group leaders only) ---- */
struct pp_exit_event {
	__u64 ts_ns;
	__u64 duration_ns; /* since the process started */
	__u32 pid;
	__u32 ppid;
	__u32 exit_code;   /* (status >> 8) & 0xff as wait(2) reports it */
	__u32 signal;      /* terminating signal, 0 if it exited */
	char comm[PP_COMM_LEN];
};

/* ---- file_open: ring buffer `events` ---- */
struct pp_open_event {
	__u64 ts_ns;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 flags;
	__s64 ret;         /* fd, or -errno */
	char comm[PP_COMM_LEN];
	char path[PP_PATH_LEN];
};

/* ---- oom_kills: ring buffer `events` ---- */
struct pp_oom_event {
	__u64 ts_ns;
	__u32 pid;            /* victim */
	__u32 uid;            /* victim's uid, 0 when the kernel's tracepoint lacks it */
	__s32 oom_score_adj;
	__u32 trigger_pid;    /* process whose allocation triggered the kill (current) */
	__u64 total_vm_kb;
	__u64 anon_rss_kb;
	__u64 file_rss_kb;
	__u64 shmem_rss_kb;
	char comm[PP_COMM_LEN];         /* victim's comm */
	char trigger_comm[PP_COMM_LEN];
};

/* ---- syscall_counts: per-CPU hash `counts` (drained), key below, value struct pp_count ---- */
struct pp_syscall_key {
	__u32 pid;
	__u32 nr;  /* syscall number for the host architecture */
	char comm[PP_COMM_LEN];
};

#endif /* PROBEPILOT_H */
