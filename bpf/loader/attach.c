// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attach: tracepoints and the like by their section name
 * (bpf_program__attach), perf_event programs to sampling events we open
 * ourselves, one per online CPU.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include "attach.h"
#include "frames.h"
#include "load.h"

/* Fill online[0..ncpus) from /sys/devices/system/cpu/online ("0-3,5,7-8"). */
static int read_online_cpus(bool *online, int ncpus)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	if (!f)
		return -errno;
	char line[4096];
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	memset(online, 0, (size_t)ncpus * sizeof(*online));
	for (char *p = line; *p && *p != '\n';) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			return -EINVAL;
		p = end;
		if (*p == '-') {
			b = strtol(p + 1, &end, 10);
			if (end == p + 1)
				return -EINVAL;
			p = end;
		}
		for (long c = a; c <= b && c < ncpus; c++)
			if (c >= 0)
				online[c] = true;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int perf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group_fd,
			   unsigned long flags)
{
	return (int)syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
}

/* Open a cpu-clock sampling event at p->freq Hz on every online CPU and
 * attach p->prog to each; the links are appended to links. */
static int attach_perf_event(const struct perf_arg *p, const bool *online, int ncpus,
			     struct links *links)
{
	for (int cpu = 0; cpu < ncpus; cpu++) {
		if (!online[cpu])
			continue;
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.size = sizeof(attr),
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.freq = 1,
			.sample_freq = p->freq,
		};
		int pfd = perf_event_open(&attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (pfd < 0) {
			int e = errno;
			emit_error("perf_event", e, p->prog_name, NULL,
				   "perf_event_open(cpu-clock, %lu Hz, cpu %d): %s", p->freq, cpu, strerror(e));
			return -1;
		}
		/* The link owns pfd from here: destroying it disables and closes the event. */
		struct bpf_link *link = bpf_program__attach_perf_event(p->prog, pfd);
		if (!link) {
			int e = errno;
			close(pfd);
			emit_error("perf_event", e, p->prog_name, NULL,
				   "attaching %s to the cpu %d sampling event: %s", p->prog_name, cpu, strerror(e));
			return -1;
		}
		links->links[links->n++] = link;
	}
	return 0;
}

int attach_all(struct bpf_object *obj, const struct options *o, int ncpus, struct links *links)
{
	struct bpf_program *prog;
	bool *online = NULL;
	int nprogs = 0, err, ret = -1;

	/* room for one link per program and one per perf event and CPU */
	bpf_object__for_each_program(prog, obj)
		nprogs++;
	links->n = 0;
	links->links = calloc((size_t)nprogs + (size_t)o->nperfs * (size_t)ncpus + 1,
			      sizeof(*links->links));
	online = calloc((size_t)ncpus, sizeof(*online));
	if (!links->links || !online) {
		emit_error("attach", ENOMEM, NULL, NULL, "out of memory");
		goto cleanup;
	}

	/* every program by its section, perf_event ones aside */
	bpf_object__for_each_program(prog, obj) {
		if (!prog_loaded(prog) || bpf_program__type(prog) == BPF_PROG_TYPE_PERF_EVENT)
			continue;
		struct bpf_link *link = bpf_program__attach(prog);
		if (!link) {
			err = errno;
			emit_error("attach", err, bpf_program__name(prog), NULL, "attaching %s (%s): %s",
				   bpf_program__name(prog), bpf_program__section_name(prog), strerror(err));
			goto cleanup;
		}
		links->links[links->n++] = link;
	}

	/* --perf-event programs on every online CPU */
	if (o->nperfs) {
		err = read_online_cpus(online, ncpus);
		if (err) {
			emit_error("perf_event", -err, NULL, NULL, "reading /sys/devices/system/cpu/online: %s",
				   strerror(-err));
			goto cleanup;
		}
	}
	for (int i = 0; i < o->nperfs; i++) {
		if (attach_perf_event(&o->perfs[i], online, ncpus, links))
			goto cleanup;
	}
	ret = 0;
cleanup:
	free(online);
	return ret;
}

void detach_all(struct links *links)
{
	for (int i = links->n - 1; i >= 0; i--)
		bpf_link__destroy(links->links[i]);
	free(links->links);
	links->links = NULL;
	links->n = 0;
}
