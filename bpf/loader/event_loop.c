// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * One epoll set: the ring buffer manager's fd, a signalfd for the stop
 * signals, a timerfd for the interval, and stdin. The agent holds the write
 * end of our stdin, so its EOF means the agent is gone: we stop (and detach)
 * with it, and the kernel never keeps orphaned probes attached.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include "event_loop.h"
#include "frames.h"
#include "report.h"

enum epoll_tag { TAG_RINGBUF = 1, TAG_STDIN, TAG_SIGNAL, TAG_TIMER };

/*
 * ring_buffer__consume() returns the number of records or the callback's
 * error, and ours has one only once stdout is gone (-EPIPE), which the loop
 * sees through frames_broken(): its return is not needed.
 */

void block_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigprocmask(SIG_BLOCK, set, NULL);
}

static int on_ringbuf_record(void *ctx, void *data, size_t size)
{
	if (frames_broken())
		return -EPIPE; /* stops ring_buffer__consume() */
	frame(FRAME_EVENT, (uint16_t)(uintptr_t)ctx, data, size);
	return 0;
}

/* One ring buffer manager for all --ringbuf maps; ctx is the map index. */
static int open_ringbufs(struct event_loop *loop, const struct options *o)
{
	for (int i = 0; i < o->nringbufs; i++) {
		int fd = bpf_map__fd(o->ringbufs[i].map);
		void *ctx = (void *)(uintptr_t)o->ringbufs[i].index;
		int err = 0;
		if (!loop->rb) {
			loop->rb = ring_buffer__new(fd, on_ringbuf_record, ctx, NULL);
			if (!loop->rb)
				err = -errno;
		} else {
			err = ring_buffer__add(loop->rb, fd, on_ringbuf_record, ctx);
		}
		if (err) {
			emit_error("runtime", -err, NULL, NULL, "opening ring buffer %s: %s",
				   o->ringbufs[i].name, strerror(-err));
			return -1;
		}
	}
	return 0;
}

static int epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int event_loop_open(struct event_loop *loop, const struct options *o, const sigset_t *stop_signals)
{
	/* ring buffers */
	if (open_ringbufs(loop, o))
		return -1;

	/* epoll, signals and the interval timer */
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->sigfd = signalfd(-1, stop_signals, SFD_CLOEXEC);
	loop->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (loop->epfd < 0 || loop->sigfd < 0 || loop->timerfd < 0) {
		emit_error("runtime", errno, NULL, NULL, "creating epoll/signalfd/timerfd: %s", strerror(errno));
		return -1;
	}
	struct itimerspec its = {
		.it_interval = { (time_t)(o->interval_ms / 1000), (long)(o->interval_ms % 1000) * 1000000 },
	};
	its.it_value = its.it_interval;
	if (timerfd_settime(loop->timerfd, 0, &its, NULL) ||
	    epoll_add(loop->epfd, loop->sigfd, TAG_SIGNAL) ||
	    epoll_add(loop->epfd, loop->timerfd, TAG_TIMER) ||
	    (loop->rb && epoll_add(loop->epfd, ring_buffer__epoll_fd(loop->rb), TAG_RINGBUF))) {
		emit_error("runtime", errno, NULL, NULL, "setting up the event loop: %s", strerror(errno));
		return -1;
	}

	/* stdin EOF means the agent is gone. A stdin epoll cannot watch (a regular
	 * file, /dev/null, a closed fd: a run by hand) is left alone, and only a
	 * signal stops us. */
	if (epoll_add(loop->epfd, STDIN_FILENO, TAG_STDIN))
		fprintf(stderr, "ppbpf: not watching stdin (%s): stop with SIGTERM or SIGINT\n",
			strerror(errno));
	return 0;
}

/* True when stdin says the agent is gone (EOF, or a dead pipe); anything
 * written to us is read and ignored. */
static bool stdin_closed(void)
{
	char scratch[4096];
	ssize_t r = read(STDIN_FILENO, scratch, sizeof(scratch));
	return r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN);
}

/* One interval: events first, so an interval's dumps follow its events. */
static void on_interval(struct event_loop *loop, struct bpf_object *obj, struct options *o,
			struct map_dumper *dumper)
{
	uint64_t expirations;
	if (read(loop->timerfd, &expirations, sizeof(expirations)) < 0)
		return;
	if (loop->rb)
		ring_buffer__consume(loop->rb);
	for (int k = 0; k < o->ndumps; k++)
		dump_map(dumper, &o->dumps[k]);
	emit_interval(obj);
}

int event_loop_run(struct event_loop *loop, struct bpf_object *obj, struct options *o,
		   struct map_dumper *dumper)
{
	int exit_code = EXIT_OK;
	bool stop = false;

	while (!stop && !frames_broken()) {
		struct epoll_event evs[8];
		int n = epoll_wait(loop->epfd, evs, 8, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			emit_error("runtime", errno, NULL, NULL, "epoll_wait: %s", strerror(errno));
			exit_code = EXIT_FAILURE_LOAD;
			break;
		}
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u32) {
			case TAG_RINGBUF:
				ring_buffer__consume(loop->rb);
				break;
			case TAG_STDIN:
				if (stdin_closed())
					stop = true;
				break;
			case TAG_SIGNAL:
				stop = true;
				break;
			case TAG_TIMER:
				on_interval(loop, obj, o, dumper);
				break;
			}
		}
		frames_flush();
	}
	/* Hand over what the ring buffers still hold before detaching. */
	if (loop->rb && !frames_broken()) {
		ring_buffer__consume(loop->rb);
		frames_flush();
	}
	return frames_broken() ? EXIT_FAILURE_LOAD : exit_code;
}

void event_loop_close(struct event_loop *loop)
{
	ring_buffer__free(loop->rb);
	loop->rb = NULL;
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->sigfd >= 0)
		close(loop->sigfd);
	if (loop->timerfd >= 0)
		close(loop->timerfd);
	loop->epfd = loop->sigfd = loop->timerfd = -1;
}
