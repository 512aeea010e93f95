// SPDX-License-Identifier: GPL-2.0
/*
 * block_io_latency: block device I/O latency, issue to completion, as log2
 * histograms in microseconds per (device, operation). Modelled on libbpf-tools'
 * biolatency, but on tracepoints only (no kprobes, no tp_btf on struct request,
 * whose layout varies across kernels).
 *
 *   tracepoint/block/block_rq_issue     the driver is handed a request:
 *                                       start[(dev, sector)] = (now, op)
 *   tracepoint/block/block_rq_complete  the request (or part of it) completes:
 *                                       hist[(dev, op)] += now - issue
 *
 * Maps: `hist` per-CPU hash, key struct pp_block_key {dev, op}, value struct
 * pp_hist (microseconds). `start` is internal.
 *
 * Pairing: the tracepoints carry no request pointer, only (dev, sector), so that
 * is the key. Caveats:
 *  - Two requests in flight at the same (dev, sector) (e.g. a flush and a write,
 *    both reported at sector 0 - flushes and passthrough requests carry no sector)
 *    share a slot: the later issue overwrites the earlier, the first completion
 *    takes it, the second completion finds nothing and is not counted.
 *  - A partial completion (block_rq_complete with fewer bytes than the request,
 *    e.g. after an error on part of it) advances the request's sector; the first
 *    part is counted, the remainder's completion finds no start and is dropped.
 *  - A requeued request is issued again; its latency is measured from the last
 *    issue.
 *  - Requests issued before the probe attached are not counted; starts whose
 *    completion is never seen (device removed) stay in `start` until overwritten
 *    (it is an LRU hash, so they cannot fill it up for good).
 *
 * Filters: applied at issue only, to `current` (process context is all there is:
 * completions run in interrupt/softirq context, where current is whoever was
 * interrupted). Note that `current` at issue is often not the process that caused
 * the I/O: buffered writeback is issued by kworker threads (flush-*), and requests
 * plugged by a process can be issued from another task's unplug or from the
 * blk-mq run-queue kworker. targ_pid/targ_comm/targ_cgroup therefore mainly make
 * sense for direct/synchronous I/O.
 */
#include "pp_common.bpf.h"

#define MAX_ENTRIES 10240

struct start_key {
	__u64 sector;
	__u32 dev;
	__u32 _pad; /* always zero: the key is hashed as raw bytes */
};

struct start_val {
	__u64 ts;
	__u32 op;
	__u32 _pad;
};

/* LRU so that lost completions cannot pin entries forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_ENTRIES);
	__type(key, struct start_key);
	__type(value, struct start_val);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024); /* (dev, op) pairs: 5 ops per device */
	__type(key, struct pp_block_key);
	__type(value, struct pp_hist);
} hist SEC(".maps");

/* Inserted on a key's first use (struct pp_hist is too big for the BPF stack). */
static struct pp_hist zero_hist;

/*
 * rwbs is blk_fill_rwbs()'s string: an optional 'F' for a preflush, then the
 * operation ('W' write, 'R' read, 'D' discard, "DE" secure erase, 'F' flush,
 * 'N' anything else, e.g. write-zeroes), then flags (F=FUA, A, S, M...). Only the
 * first character is used: a preflush+write ("FW", "FWS") counts as a flush, as
 * its latency is dominated by the cache flush; a bare "F" is a flush request.
 */
static __always_inline __u32 rwbs_op(char c)
{
	switch (c) {
	case 'R':
		return PP_BLOCK_READ;
	case 'W':
		return PP_BLOCK_WRITE;
	case 'F':
		return PP_BLOCK_FLUSH;
	case 'D':
		return PP_BLOCK_DISCARD;
	default:
		return PP_BLOCK_OTHER;
	}
}

SEC("tracepoint/block/block_rq_issue")
int block_rq_issue(struct trace_event_raw_block_rq *ctx)
{
	struct start_key key = {};
	struct start_val val = {};

	if (!pp_current_wanted())
		return 0;

	/* ctx is the tracepoint's record: direct (CO-RE relocated) loads, no
	 * probe_read needed. */
	key.dev = ctx->dev;
	key.sector = ctx->sector;
	val.op = rwbs_op(ctx->rwbs[0]);
	val.ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &key, &val, BPF_ANY);
	return 0;
}

SEC("tracepoint/block/block_rq_complete")
int block_rq_complete(struct trace_event_raw_block_rq_completion *ctx)
{
	struct start_key key = {};
	struct pp_block_key hkey = {};
	struct start_val *sv;
	struct pp_hist *h;
	__u64 delta;

	key.dev = ctx->dev;
	key.sector = ctx->sector;
	sv = bpf_map_lookup_elem(&start, &key);
	if (!sv)
		return 0; /* not issued while we watched, or filtered out at issue */

	delta = bpf_ktime_get_ns() - sv->ts;
	hkey.dev = key.dev;
	hkey.op = sv->op;
	bpf_map_delete_elem(&start, &key);
	/* Issue and completion can run on different CPUs. */
	if ((__s64)delta < 0)
		return 0;

	h = bpf_map_lookup_elem(&hist, &hkey);
	if (!h) {
		/* Fails only when full (-E2BIG) or racing another insert (-EEXIST);
		 * the lookup below sorts out both. */
		bpf_map_update_elem(&hist, &hkey, &zero_hist, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hist, &hkey);
		if (!h)
			return 0;
	}
	/* This CPU's slot; completions run in irq/softirq context, and a nested
	 * completion on the same CPU is skipped by the kernel's tracing-program
	 * recursion guard, so plain adds do not race. */
	pp_hist_add(h, delta / 1000);
	return 0;
}
