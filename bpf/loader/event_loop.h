/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The event loop: ring buffer records as they come, a dump-and-report tick
 * every interval, and a stop on a signal or on stdin's EOF.
 */
#ifndef PPBPF_EVENT_LOOP_H
#define PPBPF_EVENT_LOOP_H

#include <signal.h>
#include <bpf/libbpf.h>
#include "args.h"
#include "maps.h"

struct event_loop {
	struct ring_buffer *rb; /* all --ringbuf maps; NULL without any */
	int epfd, sigfd, timerfd;
};

#define EVENT_LOOP_INIT { .rb = NULL, .epfd = -1, .sigfd = -1, .timerfd = -1 }

/* Block SIGTERM, SIGINT and SIGHUP, returning them in *set: from now on they
 * wait to be read through the loop's signalfd. */
void block_stop_signals(sigset_t *set);

/* Open the --ringbuf maps, the signalfd for stop_signals, the interval timer
 * and the epoll set watching them and stdin. On failure: an ERROR frame
 * (stage "runtime"), -1. */
int event_loop_open(struct event_loop *loop, const struct options *o, const sigset_t *stop_signals);

/* Run until a stop signal, stdin's EOF or a failed write to stdout: EVENT
 * frames as records come; every interval the ring buffers, then the --dump
 * maps, then INTERVAL. What the ring buffers hold at the end is sent too.
 * Returns the exit code. */
int event_loop_run(struct event_loop *loop, struct bpf_object *obj, struct options *o,
		   struct map_dumper *dumper);

void event_loop_close(struct event_loop *loop);

#endif /* PPBPF_EVENT_LOOP_H */
