// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ppbpf — ProbePilot's eBPF loader.
 *
 * The agent runs one ppbpf per probe. It opens a CO-RE object, sets its
 * `const volatile` knobs, loads and attaches every program, then streams what
 * the probe produces to stdout as length-prefixed frames (see bpf/README.md,
 * which is the contract this program implements):
 *
 *   READY     once, after everything is attached
 *   EVENT     one ring buffer record, verbatim
 *   MAP_DUMP  one --dump map, every interval
 *   INTERVAL  clocks, per-program kernel run time, our own resource usage
 *   ERROR     what went wrong, before a non-zero exit (or, stage "runtime",
 *             a non-fatal problem while running)
 *
 * It stops on SIGTERM/SIGINT/SIGHUP or when stdin reaches EOF: the agent holds
 * the write end of our stdin, so if the agent dies we die with it and the
 * kernel never keeps orphaned probes attached.
 *
 * This file is the sequence of steps; each concern has its own file (see the
 * layout in bpf/README.md): args, knobs, load, attach, maps, report,
 * event_loop, frames and buf.
 *
 * Built against libbpf 1.1 (Debian 12's libbpf-dev); nothing newer is used.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "args.h"
#include "attach.h"
#include "event_loop.h"
#include "frames.h"
#include "knobs.h"
#include "load.h"
#include "maps.h"
#include "report.h"

int main(int argc, char **argv)
{
	struct options opts = { 0 };
	struct bpf_object *obj = NULL;
	struct links links = { 0 };
	struct map_dumper dumper = { 0 };
	struct event_loop loop = EVENT_LOOP_INIT;
	sigset_t stop_signals;
	int ncpus, stats_fd = -1, err;
	int exit_code = EXIT_FAILURE_LOAD;

	/* a vanished reader must be a write error we handle, not a silent death */
	signal(SIGPIPE, SIG_IGN);
	/* stop signals wait in the loop's signalfd: one arriving during the load
	 * is acted on as soon as the loop runs, after a proper detach */
	block_stop_signals(&stop_signals);

	/* parse the command line */
	if (parse_args(argc, argv, &opts)) {
		exit_code = EXIT_BAD_ARGS;
		goto cleanup;
	}
	setup_libbpf_log(opts.verbose);

	/* count the possible CPUs: the width of a per-CPU value */
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		emit_error("open", -ncpus, NULL, NULL, "cannot count possible CPUs: %s",
			   strerror(-ncpus));
		goto cleanup;
	}
	dumper.ncpus = ncpus;

	/* open the object */
	obj = bpf_object__open_file(opts.object, NULL);
	if (!obj) {
		err = errno;
		emit_error("open", err, NULL, NULL, "opening %s: %s", opts.object, strerror(err));
		goto cleanup;
	}

	/* resolve the names and set the knobs: a typo is a command-line error
	 * (exit 2), found before anything is loaded */
	if (resolve_args(&opts, obj) || apply_knobs(obj, opts.sets, opts.nsets)) {
		exit_code = EXIT_BAD_ARGS;
		goto cleanup;
	}

	/* load and verify */
	if (load_object(obj))
		goto cleanup;
	stats_fd = enable_run_time_stats();

	/* attach */
	if (attach_all(obj, &opts, ncpus, &links))
		goto cleanup;

	/* ring buffers, signals, interval timer, stdin */
	if (event_loop_open(&loop, &opts, &stop_signals))
		goto cleanup;

	/* announce, then stream until told to stop */
	emit_ready(obj, ncpus);
	frames_flush();
	exit_code = event_loop_run(&loop, obj, &opts, &dumper);

cleanup:
	event_loop_close(&loop);
	detach_all(&links);
	bpf_object__close(obj);
	if (stats_fd >= 0)
		close(stats_fd);
	map_dumper_free(&dumper);
	free_args(&opts);
	frames_flush();
	frames_free();
	return exit_code;
}
