// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * READY and INTERVAL payloads (JSON, bpf/README.md): program ids and run-time
 * statistics from bpf_prog_info, map descriptions, clocks, and the loader's
 * own resource usage, so that a probe reports its whole cost.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <bpf/bpf.h>
#include "buf.h"
#include "frames.h"
#include "load.h"
#include "maps.h"
#include "report.h"

int enable_run_time_stats(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (fd < 0)
		fprintf(stderr, "ppbpf: BPF_ENABLE_STATS failed (%s): runTimeNs and runCount will stay 0\n",
			strerror(errno));
	return fd;
}

/* A (monotonic, realtime) pair taken together: realtime is read between two
 * monotonic reads and paired with their midpoint, to keep the skew small. */
static void clock_pair(uint64_t *mono_ns, uint64_t *real_ns)
{
	struct timespec m1, r, m2;
	clock_gettime(CLOCK_MONOTONIC, &m1);
	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m2);
	uint64_t a = (uint64_t)m1.tv_sec * 1000000000ull + (uint64_t)m1.tv_nsec;
	uint64_t b = (uint64_t)m2.tv_sec * 1000000000ull + (uint64_t)m2.tv_nsec;
	*mono_ns = a + (b - a) / 2;
	*real_ns = (uint64_t)r.tv_sec * 1000000000ull + (uint64_t)r.tv_nsec;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	unsigned long size = 0, resident = 0;
	int n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	if (n != 2)
		return 0;
	return (long)(resident * (unsigned long)sysconf(_SC_PAGESIZE) / 1024);
}

/* The program's bpf_prog_info; all zero (id 0, no run time) if the kernel
 * will not say, which the frames then report as such. */
static void prog_info(const struct bpf_program *prog, struct bpf_prog_info *info)
{
	__u32 len = sizeof(*info);
	memset(info, 0, sizeof(*info));
	int fd = bpf_program__fd(prog);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, info, &len))
		memset(info, 0, sizeof(*info));
}

/* libbpf's name for a map type as a JSON string, or the number for a type
 * newer than the libbpf we were built with. */
static void put_map_type(struct buf *j, enum bpf_map_type type)
{
	const char *name = libbpf_bpf_map_type_str(type);
	if (name)
		buf_json_str(j, name);
	else
		buf_printf(j, "%d", (int)type);
}

void emit_ready(struct bpf_object *obj, int ncpus)
{
	struct buf j = { 0 };
	struct bpf_program *prog;
	struct bpf_map *map;
	bool first = true;

	/* programs: name, section, kernel id */
	buf_puts(&j, "{\"programs\":[");
	bpf_object__for_each_program(prog, obj) {
		if (!prog_loaded(prog))
			continue;
		struct bpf_prog_info info;
		prog_info(prog, &info);
		buf_puts(&j, first ? "{\"name\":" : ",{\"name\":");
		buf_json_str(&j, bpf_program__name(prog));
		buf_puts(&j, ",\"section\":");
		buf_json_str(&j, bpf_program__section_name(prog));
		buf_printf(&j, ",\"id\":%u}", info.id);
		first = false;
	}
	/* maps: every one, internal ones included, in the order frames index them */
	buf_puts(&j, "],\"maps\":[");
	int index = 0;
	bpf_object__for_each_map(map, obj) {
		enum bpf_map_type type = bpf_map__type(map);
		buf_printf(&j, "%s{\"index\":%d,\"name\":", index ? "," : "", index);
		buf_json_str(&j, bpf_map__name(map));
		buf_puts(&j, ",\"type\":");
		put_map_type(&j, type);
		buf_printf(&j, ",\"keySize\":%u,\"valueSize\":%u,\"maxEntries\":%u,\"perCpu\":%s}",
			   bpf_map__key_size(map), bpf_map__value_size(map), bpf_map__max_entries(map),
			   map_is_percpu(type) ? "true" : "false");
		index++;
	}
	/* possible CPUs and a clock pair */
	uint64_t mono, real;
	clock_pair(&mono, &real);
	buf_printf(&j, "],\"ncpus\":%d,\"clock\":{\"monotonicNs\":%" PRIu64 ",\"realtimeNs\":%" PRIu64 "}}",
		   ncpus, mono, real);
	frame(FRAME_READY, 0, j.data, j.len);
	buf_free(&j);
}

void emit_interval(struct bpf_object *obj)
{
	struct buf j = { 0 };
	struct bpf_program *prog;
	uint64_t mono, real;
	bool first = true;

	/* a clock pair, then each program's cumulative run time and count */
	clock_pair(&mono, &real);
	buf_printf(&j, "{\"monotonicNs\":%" PRIu64 ",\"realtimeNs\":%" PRIu64 ",\"programs\":[", mono, real);
	bpf_object__for_each_program(prog, obj) {
		if (!prog_loaded(prog))
			continue;
		struct bpf_prog_info info;
		prog_info(prog, &info);
		buf_puts(&j, first ? "{\"name\":" : ",{\"name\":");
		buf_json_str(&j, bpf_program__name(prog));
		buf_printf(&j, ",\"id\":%u,\"runTimeNs\":%llu,\"runCount\":%llu}", info.id,
			   (unsigned long long)info.run_time_ns, (unsigned long long)info.run_cnt);
		first = false;
	}
	/* our own cost */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	buf_printf(&j,
		   "],\"cpuUserUs\":%lld,\"cpuSystemUs\":%lld,\"maxRssKb\":%ld,\"rssKb\":%ld}",
		   (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
		   (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss, rss_kb());
	frame(FRAME_INTERVAL, 0, j.data, j.len);
	buf_free(&j);
}
